# One image for every WattBus service; the SERVICE build arg (or WATTBUS_SERVICE at run time)
# picks which one runs. Services run as built JavaScript (scripts/bundle.mjs): plain node with
# source maps, no tsx or esbuild in the image.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.base.json ./
COPY scripts ./scripts
COPY libs ./libs
COPY services ./services
COPY openapi.yaml asyncapi.yaml ./
# Installs the workspace, bundles every services/<name>/src/main.ts into services/<name>/dist/,
# then drops dev-only packages (tsx, esbuild, linters, test peers, Nx).
RUN npm ci --no-audit --no-fund \
  && npm run bundle \
  && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
ARG SERVICE=gateway
ENV NODE_ENV=production WATTBUS_SERVICE=${SERVICE}
WORKDIR /app
# The bundles load files their sources name relative to themselves (openapi.yaml, device
# profiles), and npm packages from node_modules: the tree keeps the repository's layout.
COPY --from=build --chown=node:node /app /app
RUN mkdir -p /var/lib/wattbus /app/data && chown node:node /var/lib/wattbus /app/data
USER node
VOLUME ["/var/lib/wattbus"]
# The gateway's /readyz (HTTP or HTTPS); docker-compose.yml gives every other service a check of
# its retained health record (scripts/healthcheck.mjs <ENV_PREFIX> <name>).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
  CMD ["sh", "-c", "[ \"$WATTBUS_SERVICE\" != gateway ] || exec node scripts/healthcheck.mjs gateway"]
# scripts/service.sh: node with source maps for the bundle (dist/start.js) and the memory settings
# of docs/benchmarks.md.
ENTRYPOINT ["sh", "-c", "exec sh scripts/service.sh \"$WATTBUS_SERVICE\" \"$@\"", "wattbus"]
