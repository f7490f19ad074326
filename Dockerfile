# clusterdns image: a wheel built in the first stage, installed into a slim runtime that runs
# as a non-root user on a read-only root filesystem. Port 53 is bound without root through the
# pod sysctl net.ipv4.ip_unprivileged_port_start (deploy/deployment.yaml; README "Deploying").
ARG PYTHON_IMAGE=python:3.11-slim-trixie

FROM ${PYTHON_IMAGE} AS build
# gcc and the libc headers: the wheel's hot path is compiled with mypyc (setup.py). Not
# pinned: the image's Debian release gives only fixes to these.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY clusterdns ./clusterdns
# The project (compiled), its pinned dependencies and the optional fast event loop (extra
# `speed`) as wheels, so that the runtime stage installs them offline.
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[speed]"

FROM ${PYTHON_IMAGE}
# Bytecode is compiled at install time; the read-only root could not take it at run time.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index /wheels/*.whl
# A numeric user, so that the kubelet can check runAsNonRoot without an /etc/passwd entry.
USER 65532:65532
EXPOSE 53/udp 53/tcp 9153/tcp 8080/tcp 8181/tcp
ENTRYPOINT ["clusterdns", "serve", "--conf", "/etc/coredns/Corefile"]
