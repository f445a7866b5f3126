# One image for every WattBus service; the SERVICE build arg (or WATTBUS_SERVICE at run time)
# picks which one runs. Services run their TypeScript through tsx, as in development.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY libs ./libs
COPY services ./services
COPY openapi.yaml asyncapi.yaml ./
# Installs the workspace, then drops dev-only packages (linters, test peers, Nx).
RUN npm ci --no-audit --no-fund && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
ARG SERVICE=gateway
ENV NODE_ENV=production WATTBUS_SERVICE=${SERVICE}
WORKDIR /app
COPY --from=build --chown=node:node /app /app
RUN mkdir -p /var/lib/wattbus && chown node:node /var/lib/wattbus
USER node
VOLUME ["/var/lib/wattbus"]
# Only the gateway serves HTTP; the other services exit on a fatal error and are restarted.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
  CMD ["node", "-e", "if (process.env.WATTBUS_SERVICE !== 'gateway') process.exit(0); fetch('http://127.0.0.1:' + (process.env.WATTBUS_GATEWAY_PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["sh", "-c", "exec node --import tsx \"services/$WATTBUS_SERVICE/src/main.ts\" \"$@\"", "wattbus"]
