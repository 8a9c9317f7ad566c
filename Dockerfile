# VirtMesh images. The default (last) stage is the operator; build the launcher
# with `--target launcher`. Both binaries come from one builder stage.
FROM golang:1.26 AS builder
WORKDIR /workspace
COPY go.mod go.sum ./
RUN go mod download
COPY main.go ./
COPY api/ api/
COPY controllers/ controllers/
COPY internal/ internal/
COPY cmd/ cmd/
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags='-s -w' -o /out/manager . && \
    CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags='-s -w' -o /out/virt-launcher ./cmd/virt-launcher

# The launcher image runs every VirtMesh container of a virt-launcher pod:
# net-setup (iptables), compute (QEMU) and, copied into the pod, disk-helper.
FROM debian:12-slim AS launcher
RUN apt-get update && apt-get install -y --no-install-recommends \
        qemu-system-x86 qemu-utils iptables iproute2 ca-certificates && \
    rm -rf /var/lib/apt/lists/* && \
    groupadd -g 107 qemu-vm && useradd -u 107 -g 107 -M -s /usr/sbin/nologin qemu-vm
COPY --from=builder /out/virt-launcher /usr/bin/virt-launcher
USER 107:107
ENTRYPOINT ["/usr/bin/virt-launcher"]

# The operator.
FROM gcr.io/distroless/static:nonroot
WORKDIR /
COPY --from=builder /out/manager /manager
USER 65532:65532
ENTRYPOINT ["/manager"]
