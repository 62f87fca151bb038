# The model server in a container: gunicorn (python app.py) on port 8501, models from /models.
#   CPU: docker build -t tf-flask-serving .
#   GPU: docker build --build-arg REQUIREMENTS=deploy/requirements-gpu.txt -t tf-flask-serving:gpu .
#        docker run --gpus all ...   (the host needs only the NVIDIA driver; see deploy/README.md)
# Like TensorFlow Serving's image, it serves $MODEL_BASE_PATH/$MODEL_NAME (/models/model):
#   docker run -p 8501:8501 -v "$PWD/models/model_b:/models/model_b" -e MODEL_NAME=model_b tf-flask-serving
# or a model_config_list on the volume: -e MODEL_CONFIG_FILE=/models/models.config
FROM python:3.11-slim

ARG REQUIREMENTS=requirements.txt

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/tmp \
    MODEL_BASE_PATH=/models \
    MODEL_NAME=model \
    REST_API_PORT=8501 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility

WORKDIR /srv/model-server

# Dependencies before code: this layer is rebuilt only when a requirements file changes.
COPY requirements.txt ./
COPY deploy/requirements-gpu.txt ./deploy/
RUN pip install --no-cache-dir -r "${REQUIREMENTS}"

# Code stays root-owned and read-only for the server's (numeric, non-root) user.
COPY . .

USER 10001:10001
VOLUME ["/models"]
EXPOSE 8501 8500
HEALTHCHECK --interval=30s --timeout=5s --start-period=300s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('REST_API_PORT', '8501'), timeout=4)"]
CMD ["python", "app.py"]
