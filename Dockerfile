# The Sandbank controller and router images: Node 24 and one process bundled into one file (no
# node_modules), as user 1000, nothing written at run time (readOnlyRootFilesystem: true; logs go
# to stdout; the controller's Lease and all its state live in the API server). The two differ only
# in the bundled process, its entry point and its ports, so one file builds both, chosen by the
# build arg PROCESS. Build from the repository root:
#
#   docker build --build-arg PROCESS=controller -t sandbank/controller .
#   docker build --build-arg PROCESS=router -t sandbank/router .
#
# Without a Docker engine or a registry (the local cluster): e2e/cluster/build-sandbank-images.sh
# builds this same file with buildah, passing images it makes itself for the three inputs below.
# (The runtime image, runtime-image/Dockerfile, adds python3 and tini: a different image.)

# controller | router: required, so an image is never built for the wrong process by default.
ARG PROCESS
# Where the final image's OS and the Node binary come from (locally: a debootstrap base and the
# pinned Node.js of versions.env). Keep the major in step with NODE_VERSION there.
ARG BASE_IMAGE=debian:bookworm-slim
ARG NODE_IMAGE=node:24-bookworm-slim
# The stage (or image) holding the bundle in /out/; the local build passes an image made from a
# bundle built on the host, so no npm runs inside the build.
ARG BUNDLE_FROM=bundle

FROM ${NODE_IMAGE} AS node

# `npm install` with the committed lockfile installs exactly its versions; `npm ci` refuses this
# lockfile (it lacks other platforms' optional binaries, which the registry the lockfile is made
# with does not serve). npm checks every workspace, so the whole workspace is copied (less what
# .dockerignore drops); only this stage sees it.
FROM ${NODE_IMAGE} AS bundle
ARG PROCESS
WORKDIR /src
COPY . .
RUN npm install --ignore-scripts --no-audit --no-fund \
 && node runtime-image/scripts/bundle.mjs "/out/${PROCESS}.mjs" --process "${PROCESS}"

FROM ${BUNDLE_FROM} AS process-bundle

FROM ${BASE_IMAGE} AS runtime
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=process-bundle /out/ /opt/sandbank/
ENV NODE_ENV=production
USER 1000:1000
WORKDIR /opt/sandbank

# One final stage per process: an exec-form ENTRYPOINT cannot expand a build arg, and each
# EXPOSE documents only the ports that process listens on.
FROM runtime AS controller
# /healthz, /readyz, /metrics (HTTP_PORT). The same image runs the conversion webhook
# (Deployment sandbank-webhook: command node /opt/sandbank/webhook.mjs, HTTPS on 9443).
EXPOSE 8080 9443
ENTRYPOINT ["/usr/local/bin/node", "/opt/sandbank/controller.mjs"]

FROM runtime AS router
# 8080 HTTPS + WebSocket, 8081 gRPC passthrough over TLS (with ROUTER_TLS_CERT_FILE), 9090 metrics.
EXPOSE 8080 8081 9090
ENTRYPOINT ["/usr/local/bin/node", "/opt/sandbank/router.mjs"]

FROM ${PROCESS}
