# reapq worker / api image. Node 20 on Debian slim (glibc, so koffi's prebuilt binary loads).
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY scripts ./scripts
# The Lua scripts are read at run time (src/shared/lua.ts), and by the build's CLI bundle step.
COPY lua ./lua
RUN npm ci --no-audit --no-fund && npm prune --omit=dev

FROM node:20-bookworm-slim
# Tini as PID 1: it reaps every zombie in the container and forwards signals. `-s` makes it
# a subreaper too, so it still works when something else ends up PID 1 (docker --init,
# compose `init: true`): see README, "Docker".
RUN apt-get update && apt-get install -y --no-install-recommends tini && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production REAPQ_DATA_DIR=/var/lib/reapq
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY lua ./lua
# Non-root: a worker only signals processes it started, which run as the same user.
RUN mkdir -p /var/lib/reapq && chown node:node /var/lib/reapq
USER node
ENTRYPOINT ["/usr/bin/tini", "-s", "--", "node", "/app/bin/reapq"]
CMD ["worker"]
