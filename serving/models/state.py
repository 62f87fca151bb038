"""One model's versions as the manager tracks them, and how a request picks one.

Writers (serving/manager.py) replace each attribute whole; requests read them without a lock,
so a reader sees the old table or the new one, never half of an update.
"""
from __future__ import annotations

import dataclasses

from serving import metrics
from serving.errors import FailedPrecondition, InvalidArgument, NotFound
from serving.models.routes import Route
from serving.models.source import aspired_versions

START, LOADING, AVAILABLE, UNLOADING, END = "START", "LOADING", "AVAILABLE", "UNLOADING", "END"
LABEL_REQUEST = "Request to assign label to version {version} of model {name}"  # TF Serving's
PIN_REQUEST = "Request to pin the default version of model {name} to version {version}"
SPLIT_REQUEST = "Request to send traffic of model {name} to version {version}"


@dataclasses.dataclass(frozen=True)
class VersionStatus:
    version: int
    path: str
    state: str = START
    error_code: str = "OK"
    error_message: str = ""
    servable: object | None = None
    load_seconds: float | None = None
    fingerprint: tuple | None = None                 # of the directory a failed load read

    @property
    def failed(self) -> bool:
        return self.state == END and self.error_code != "OK"


@dataclasses.dataclass(eq=False)
class ModelState:
    config: object                                   # ModelConfig proto (desired labels too)
    versions: dict[int, VersionStatus] = dataclasses.field(default_factory=dict)
    labels: dict[str, int] = dataclasses.field(default_factory=dict)   # checked, in effect
    label_error: str = ""
    route: Route | None = None
    scanned: bool = False                            # the base path was read at least once
    unsettled: dict[int, tuple] = dataclasses.field(default_factory=dict)

    def set_status(self, version: int, status: VersionStatus | None) -> None:
        versions = dict(self.versions)
        if status is None:
            versions.pop(version, None)
        else:
            versions[version] = status
        self.versions = versions  # replaced whole: readers never see a half-updated dict
        metrics.set_model_state(self.config.name, str(version), status.state if status else None)

    def available(self) -> set[int]:
        return {v for v, s in self.versions.items() if s.state == AVAILABLE}

    def gave_up(self, version: int) -> bool:
        status = self.versions.get(version)
        return status is not None and status.failed

    def wanted(self, on_disk: dict[int, str]) -> set[int]:
        """Aspired by policy, plus versions a label or route names (they stay loaded)."""
        aspired = set(aspired_versions(self.config.model_version_policy, on_disk))
        routed = set(self.config.version_labels.values()) | set(self.labels.values())
        if self.route is not None:
            routed |= self.route.versions()
        wanted = aspired | (routed & set(on_disk))
        if aspired and all(self.gave_up(v) for v in aspired):
            # Every aspired version is broken: keep (or load) the newest one that is not,
            # so a bad new version never leaves the model with nothing to serve.
            for version in sorted(set(on_disk) - aspired, reverse=True):
                if not self.gave_up(version):
                    wanted.add(version)
                    break
        return wanted

    def require_available(self, versions: set[int], request: str = LABEL_REQUEST) -> None:
        """TF Serving's rule: a label (here also a pin or split) only names AVAILABLE versions.

        `request` says what was asked, with {version} and {name} to fill in."""
        for version in sorted(set(versions) - self.available()):
            raise FailedPrecondition(request.format(version=version, name=self.config.name) +
                                     ", which is not currently available for inference")

    def servable(self, version: int | None, label: str | None):
        """A version, a label, a route, or else the newest AVAILABLE version (TF's Latest)."""
        return self.pick(version, label).servable

    def pick(self, version: int | None, label: str | None) -> VersionStatus:
        """The AVAILABLE version's status a request resolves to (servable() without the
        servable: under a memory budget it may still have to load)."""
        name = self.config.name
        if label is not None:
            labels = self.labels
            if label not in labels:
                raise InvalidArgument(f"Unrecognized servable version label: {label}")
            version = labels[label]
        versions = self.versions
        if version is not None:
            status = versions.get(version)
            if status is None or status.state != AVAILABLE:
                raise NotFound(f"Servable not found for request: Specific({name}, {version})")
            return status
        route = self.route
        if route is not None:
            chosen = route.choose({v for v, s in versions.items() if s.state == AVAILABLE})
            if chosen is not None:
                return versions[chosen]
        for number in sorted(versions, reverse=True):
            if versions[number].state == AVAILABLE:
                return versions[number]
        raise NotFound(f"Servable not found for request: Latest({name})")
