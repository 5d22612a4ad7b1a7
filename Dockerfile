# Builds the talent binaries: `recruiting`, `metrics` and `talent`.
# No protoc needed: the contracts are compiled in Rust (protox).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bins \
 && mkdir /out && cp target/release/recruiting target/release/metrics target/release/talent /out/

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /var/lib/talent --create-home talent
COPY --from=build /out/ /usr/local/bin/
USER talent
WORKDIR /var/lib/talent
EXPOSE 50051 50052 9051 9052
