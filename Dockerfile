# Builds the talent binaries: `recruiting`, `metrics` and `talent`, plus
# `talent-bootstrap` (deploy/bootstrap), the first start of a deployment.
# No protoc needed: the contracts are compiled in Rust (protox).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bins \
 && mkdir /out && cp target/release/recruiting target/release/metrics target/release/talent /out/

FROM debian:bookworm-slim
# A fixed uid, so that Kubernetes' runAsUser and fsGroup can name it
# (deploy/kubernetes). The bootstrap folder is where docker-compose mounts
# the volume holding the relay's key; a new volume takes its owner from it.
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 talent \
 && useradd --system --uid 10001 --gid talent --home /var/lib/talent --create-home talent \
 && install -d -o talent -g talent -m 0700 /var/lib/talent/bootstrap
COPY --from=build /out/ /usr/local/bin/
COPY deploy/bootstrap /usr/local/bin/talent-bootstrap
USER talent
WORKDIR /var/lib/talent
EXPOSE 50051 50052 9051 9052
