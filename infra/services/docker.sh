# Docker engine (Debian's docker.io, dockerd started by us) and Debian's docker-registry on
# 127.0.0.1:5000, with the base image debian-git:bookworm built offline by debootstrap.

SLUICE_REGISTRY=${SLUICE_REGISTRY:-127.0.0.1:5000}
BASE_IMAGE="$SLUICE_REGISTRY/debian-git:bookworm"
BASE_TARBALL="$SLUICE_CACHE_DIR/images/debian-git-bookworm.tar"
DEBIAN_MIRROR=${SLUICE_DEBIAN_MIRROR:-http://deb.debian.org/debian}

docker_install() { need_packages docker.io docker-registry debootstrap; }

docker_start() {
  if ! docker_health; then
    step "docker: starting dockerd"
    start_daemon dockerd "$SLUICE_LOG_DIR/dockerd.log" /usr/sbin/dockerd
    wait_for 60 docker_health || fail docker "$SLUICE_LOG_DIR/dockerd.log" "is another dockerd running? see /var/run/docker.pid"
  fi
  if ! registry_health; then
    step "registry: starting docker-registry on $SLUICE_REGISTRY"
    mkdir -p "$SLUICE_STATE_DIR/registry"
    sed "s|@DATA@|$SLUICE_STATE_DIR/registry|; s|@ADDR@|$SLUICE_REGISTRY|" \
      "$SLUICE_ROOT/infra/docker/registry.yml.in" >"$SLUICE_STATE_DIR/registry.yml"
    start_daemon registry "$SLUICE_LOG_DIR/registry.log" /usr/bin/docker-registry serve "$SLUICE_STATE_DIR/registry.yml"
    wait_for 30 registry_health || fail registry "$SLUICE_LOG_DIR/registry.log" "another process on ${SLUICE_REGISTRY##*:}?"
  fi
  base_image_ensure
}

# The base image: Debian minbase + git + ca-certificates, no registry needed to make it.
base_image_ensure() {
  curl -fs --max-time 3 "http://$SLUICE_REGISTRY/v2/debian-git/manifests/bookworm" \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' -o /dev/null && return 0
  local log="$SLUICE_LOG_DIR/base-image.log"
  if [ ! -f "$BASE_TARBALL" ]; then
    step "image: debootstrap bookworm minbase + git (one time, ~40 s)"
    local root="$SLUICE_CACHE_DIR/images/rootfs.$$"
    rm -rf "$root"; mkdir -p "$root"
    debootstrap --variant=minbase --include=git,ca-certificates bookworm "$root" "$DEBIAN_MIRROR" >"$log" 2>&1 \
      || fail "base image" "$log" "debootstrap failed; check that $DEBIAN_MIRROR is reachable"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" -cf "$BASE_TARBALL.tmp" . && mv "$BASE_TARBALL.tmp" "$BASE_TARBALL"
    rm -rf "$root"
  fi
  step "image: importing and pushing $BASE_IMAGE"
  docker import "$BASE_TARBALL" "$BASE_IMAGE" >>"$log" 2>&1 || fail "base image" "$log" "docker import failed"
  docker push "$BASE_IMAGE" >>"$log" 2>&1 || fail "base image" "$log" "docker push to $SLUICE_REGISTRY failed; is the registry up?"
}

docker_health() { docker info >/dev/null 2>&1; }
registry_health() { curl -fs -o /dev/null --max-time 2 "http://$SLUICE_REGISTRY/v2/"; }
docker_stop() { stop_daemon registry; stop_daemon dockerd; }
docker_address() { echo "unix:///var/run/docker.sock, registry $SLUICE_REGISTRY"; }
docker_version() { docker version --format '{{.Server.Version}}' 2>/dev/null; }
