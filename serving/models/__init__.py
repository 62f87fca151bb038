"""Model versions: the version directories on disk and the policy that picks some (source),
the manager that loads them before it unloads others, each model's state and how a request
picks a version (state, routes), the loaded version (servable) and the unloader."""
