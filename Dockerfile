# ClassMood app image. The password is never baked in: pass it at run time,
#   docker run -e CLASSMOOD_AUTH='teacher:a-long-password' -p 127.0.0.1:7860:7860 -v classmood:/data classmood
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    GRADIO_ANALYTICS_ENABLED=False CLASSMOOD_DB=/data/classmood.db CLASSMOOD_DOCS=/app/docs
RUN apt-get update && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-eng tesseract-ocr-kor \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY model ./model
COPY training ./training
COPY bot ./bot
COPY ui ./ui
COPY docs/privacy.md ./docs/
RUN pip install . && useradd --create-home classmood && mkdir /data && chown classmood /data
USER classmood
VOLUME /data
EXPOSE 7860
CMD ["classmood-ui", "--host", "0.0.0.0", "--port", "7860"]
