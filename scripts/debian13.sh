#!/usr/bin/env bash
# Run the test suite on Debian 13 (trixie): QGIS 3.40 LTR, Python 3.13, numpy 2, GDAL 3.10.
#
# Usage (as root, from any clone of this repository):
#   scripts/debian13.sh test [PYTEST_ARGS...]   make (or reuse) the chroot, then `make test` inside it
#   scripts/debian13.sh setup                   only make (or refresh) the chroot and this clone's venv
#   scripts/debian13.sh shell [COMMAND...]      a shell (or COMMAND) inside the chroot, in the checkout
#   scripts/debian13.sh upgrade                 apt-get update && apt-get upgrade inside the chroot
#   scripts/debian13.sh info                    where things are, their sizes and versions
# `make test-debian13 PYTEST_ARGS="-k deps -x"` calls `scripts/debian13.sh test -k deps -x`.
#
# What it does:
# - A Debian 13 chroot made once with debootstrap from deb.debian.org, shared by every clone and
#   run, at $DMS2F_DEBIAN13_ROOT (default /var/cache/dms2f-had/debian13). Each set-up step leaves a
#   stamp under <chroot>/var/lib/dms2f-had/, so with everything present a run starts in seconds.
# - The Debian packages are the Makefile's APT_PACKAGES (read from the Makefile) plus make and git.
# - Everything runs in a private mount namespace (unshare): the checkout and ../shared are bind-
#   mounted at the same absolute paths inside the chroot (and the git directory of a worktree), with
#   /proc, /sys and /dev. A trap unmounts them on exit, failure or Ctrl-C, and since the namespace is
#   private nothing can leak onto the host even if the script is killed.
# - The chroot gets its own venv and build folder per checkout, kept inside the chroot at
#   <chroot>/var/lib/dms2f-had/checkouts/<key>/{venv,build} and bind-mounted over the checkout's
#   `.venv` and `build` *inside the chroot only*: the tests and the Makefile still find `.venv`
#   where they expect it, and the host's `.venv` (Python 3.11, QGIS 3.22) and `build/` are never
#   touched. (If the checkout has no `.venv`/`build` folder yet, an empty one is made as the mount
#   point; `make` on the host fills an empty `.venv` as usual.)
# - Inside, the project's own Makefile does the rest (`make test`): ensure_system.sh, the venv with
#   --system-site-packages, the pinned pip install with numpy/scipy/GDAL held at Debian's, the
#   links of scripts/dev_setup.py, then pytest. Before that, torch is tried from PyTorch's CPU
#   index (small); if that index cannot be reached, the Makefile's pip install takes torch from
#   PyPI (the CUDA build, a few GB). pip's cache lives in the chroot, so it downloads once.
#
# Environment:
#   DMS2F_DEBIAN13_ROOT     the chroot (default /var/cache/dms2f-had/debian13)
#   DMS2F_DEBIAN13_MIRROR   Debian mirror (default http://deb.debian.org/debian)
#   DMS2F_TORCH_INDEX_URL   index tried first for torch (default https://download.pytorch.org/whl/cpu;
#                           empty: skip it and use PyPI)
#   DMS2F_APT_PACKAGES      override the package list read from the Makefile
#   DMS2F_HAD_DATA          passed through (and bind-mounted) when set
#   HOST_CA_BUNDLE          CA bundle copied into the chroot for pip (default /etc/ssl/certs/ca-certificates.crt)
# shellcheck disable=SC2317,SC2016 # functions run through `timed`/declare -f; '$x' is for the chroot
set -euo pipefail

SUITE=trixie
ROOT=${DMS2F_DEBIAN13_ROOT:-/var/cache/dms2f-had/debian13}
MIRROR=${DMS2F_DEBIAN13_MIRROR:-http://deb.debian.org/debian}
TORCH_INDEX_URL=${DMS2F_TORCH_INDEX_URL-https://download.pytorch.org/whl/cpu}
HOST_CA_BUNDLE=${HOST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
EXTRA_PACKAGES=(make git ca-certificates)
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
SELF="$REPO/scripts/$(basename "${BASH_SOURCE[0]}")"
STATE=/var/lib/dms2f-had            # inside the chroot
PIP_CACHE=/var/cache/dms2f-had/pip  # inside the chroot
WHEELHOUSE=/var/cache/dms2f-had/wheels  # inside the chroot: every wheel pip fetched, kept
CA_IN_CHROOT=/etc/dms2f-had/host-ca.crt
MARKER=.dms2f-had-debian13-chroot   # at the chroot's top: this script made the folder

say() { printf '[debian13] %s\n' "$*" >&2; }
die() { printf '[debian13] error: %s\n' "$*" >&2; exit 1; }

usage() {
    sed -n '2,11p' "$SELF" | sed 's/^# \{0,1\}//'
}

# ---------------------------------------------------------------------------------------------
# Outside the namespace: check the basics, then re-run this script in a private mount namespace.
# ---------------------------------------------------------------------------------------------
outer() {
    local cmd=${1:-}
    case "$cmd" in
            test|setup|shell|upgrade|info) ;;
            -h|--help|help) usage; exit 0 ;;
            *) usage >&2; exit 2 ;;
    esac
    [[ $(id -u) -eq 0 ]] || die "must run as root (debootstrap, chroot and bind mounts need it)"
    command -v unshare >/dev/null || die "unshare not found: apt-get install util-linux"
    case "$ROOT" in /*) ;; *) die "DMS2F_DEBIAN13_ROOT must be an absolute path (got $ROOT)" ;; esac
    [[ "$ROOT" != / ]] || die "DMS2F_DEBIAN13_ROOT must not be /"
    case "$REPO/" in "$ROOT"/*) die "the checkout must not live inside the chroot ($ROOT)" ;; esac
    if [[ -z "${DMS2F_APT_PACKAGES:-}" ]]; then
        # The Makefile's APT_PACKAGES is the single list; ask make for it.
        DMS2F_APT_PACKAGES=$(make --no-print-directory -s -C "$REPO" \
            --eval 'dms2f-print-apt-packages: ; @echo $(APT_PACKAGES)' dms2f-print-apt-packages) \
            || die "could not read APT_PACKAGES from $REPO/Makefile (is make installed?)"
    fi
    export DMS2F_APT_PACKAGES
    export _DMS2F_DEBIAN13_INNER=1
    exec unshare --mount --propagation private -- "$SELF" "$@"
}

# ---------------------------------------------------------------------------------------------
# Inside the private mount namespace.
# ---------------------------------------------------------------------------------------------
MOUNTED=()   # mount points, in the order they were mounted
cleanup() {
    local rc=$? i
    trap - EXIT INT TERM
    for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do
        umount -R "${MOUNTED[i]}" 2>/dev/null || umount -R -l "${MOUNTED[i]}" 2>/dev/null \
            || say "warning: could not unmount ${MOUNTED[i]}"
    done
    exit "$rc"
}
# bind SRC DEST-INSIDE-CHROOT [ro]
bind() {
    local src=$1 dest="$ROOT$2"
    if [[ -d "$src" ]]; then mkdir -p "$dest"; else mkdir -p "$(dirname "$dest")"; touch "$dest"; fi
    mount --rbind "$src" "$dest"
    MOUNTED+=("$dest")
    if [[ "${3:-}" == ro ]]; then mount -o remount,bind,ro "$dest"; fi
}

mount_system() {
    mount -t proc proc "$ROOT/proc"; MOUNTED+=("$ROOT/proc")
    bind /sys /sys
    bind /dev /dev
}

unmount_all() {
    local i
    for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do umount -R "${MOUNTED[i]}"; done
    MOUNTED=()
}

# Environment inside the chroot: nothing of the host's (its pip config points at local wheel
# folders that the chroot does not have), except proxies, CI and the data override.
chroot_env() {
    local v
    CHROOT_ENV=(HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
        LANG=C.UTF-8 LC_ALL=C.UTF-8 "TERM=${TERM:-dumb}" DEBIAN_FRONTEND=noninteractive
        "PIP_CERT=$CA_IN_CHROOT" "SSL_CERT_FILE=$CA_IN_CHROOT" "REQUESTS_CA_BUNDLE=$CA_IN_CHROOT"
        "PIP_CACHE_DIR=$PIP_CACHE" PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=180)
    for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY CI DMS2F_HAD_DATA; do
        [[ -n "${!v:-}" ]] && CHROOT_ENV+=("$v=${!v}")
    done
    return 0
}

in_chroot() {  # in_chroot COMMAND... (runs with the chroot's clean environment)
    chroot "$ROOT" /usr/bin/env -i "${CHROOT_ENV[@]}" "$@"
}

stamp() { echo "$ROOT$STATE/stamps/$1"; }

timed() {  # timed STEP COMMAND...: run, and log how long the step took
    local step=$1 t0=$SECONDS
    shift
    "$@"
    mkdir -p "$ROOT$STATE"
    printf '%s %-12s %5d s\n' "$(date -u +%FT%TZ)" "$step" $((SECONDS - t0)) >>"$ROOT$STATE/build-times.log"
    say "$step: done in $((SECONDS - t0)) s"
}

# ---- step 1: debootstrap ----------------------------------------------------------------------
do_debootstrap() {
    if ! command -v debootstrap >/dev/null; then
        say "installing debootstrap on the host"
        apt-get update -q && apt-get install -y -q --no-install-recommends debootstrap </dev/null
    fi
    if [[ -e "$ROOT" ]] && [[ -n "$(ls -A "$ROOT")" ]]; then
        # Only ever delete a folder this script made (it marks it before debootstrap).
        [[ -f "$ROOT/$MARKER" ]] || die "$ROOT exists, is not empty and was not made by this script; \
set DMS2F_DEBIAN13_ROOT to another folder or remove it yourself"
        if findmnt -rn -o TARGET | grep -q "^$ROOT/"; then
            die "$ROOT has something mounted under it (an earlier run still going?); not removing it"
        fi
        say "removing the incomplete chroot at $ROOT"
        rm -rf --one-file-system "$ROOT"
    fi
    mkdir -p "$ROOT"
    touch "$ROOT/$MARKER"
    say "debootstrap $SUITE into $ROOT from $MIRROR (a few minutes)"
    if ! debootstrap --variant=minbase --include=ca-certificates "$SUITE" "$ROOT" "$MIRROR"; then
        [[ -f "$ROOT/debootstrap/debootstrap.log" ]] && tail -n 30 "$ROOT/debootstrap/debootstrap.log" >&2
        die "debootstrap failed (log: $ROOT/debootstrap/debootstrap.log); the next run starts over"
    fi
}

# ---- step 2: apt sources, no daemons ----------------------------------------------------------
do_configure() {
    cat >"$ROOT/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${MIRROR%/debian}/debian-security
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    rm -f "$ROOT/etc/apt/sources.list"
    # Never start services from package scripts inside the chroot.
    printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
    chmod 755 "$ROOT/usr/sbin/policy-rc.d"
    # Keep downloaded .debs out of the chroot's size.
    echo 'APT::Keep-Downloaded-Packages "false";' >"$ROOT/etc/apt/apt.conf.d/99dms2f-no-keep"
}

# ---- step 3: Debian packages ------------------------------------------------------------------
do_packages() {
    local pkgs=$1
    say "installing Debian packages in the chroot: $pkgs"
    # shellcheck disable=SC2086 # a word list on purpose
    in_chroot /bin/sh -c "apt-get update -q && apt-get install -y -q --no-install-recommends $pkgs && apt-get clean" </dev/null
}

# Per-run files copied in from the host (cheap, so done every time).
refresh_host_files() {
    mkdir -p "$ROOT$(dirname "$CA_IN_CHROOT")"
    [[ -f "$HOST_CA_BUNDLE" ]] || die "no CA bundle at $HOST_CA_BUNDLE (set HOST_CA_BUNDLE)"
    cmp -s "$HOST_CA_BUNDLE" "$ROOT$CA_IN_CHROOT" || cp "$HOST_CA_BUNDLE" "$ROOT$CA_IN_CHROOT"
    # resolv.conf may be a dangling symlink in the chroot; replace it by the host's contents.
    if ! cmp -s /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null; then
        rm -f "$ROOT/etc/resolv.conf"
        cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
    fi
}

ensure_chroot() {
    local lock_dir lock pkgs want
    lock_dir=$(dirname "$ROOT")
    mkdir -p "$lock_dir"
    lock="$lock_dir/.$(basename "$ROOT").lock"
    exec 9>"$lock"
    if ! flock -n 9; then
        say "waiting for another run that is setting up $ROOT"
        flock 9
    fi
    if [[ ! -f "$(stamp debootstrap)" ]]; then
        timed debootstrap do_debootstrap
        mkdir -p "$ROOT$STATE/stamps" && touch "$(stamp debootstrap)"
    fi
    if [[ ! -f "$(stamp configure)" ]]; then
        do_configure
        touch "$(stamp configure)"
    fi
    refresh_host_files
    chroot_env
    # shellcheck disable=SC2086
    pkgs=$(printf '%s\n' $DMS2F_APT_PACKAGES "${EXTRA_PACKAGES[@]}" | sort -u | tr '\n' ' ')
    want=${pkgs% }
    if [[ "$(cat "$(stamp packages)" 2>/dev/null)" != "$want" ]]; then
        mount_system
        timed packages do_packages "$want"
        unmount_all
        echo "$want" >"$(stamp packages)"
    fi
    flock -u 9
    exec 9>&-
}

# ---- per checkout: mounts, private venv and build folder ---------------------------------------
checkout_key() {  # a readable, unique folder name for this checkout's path
    local base hash
    base=$(printf '%s' "$REPO" | tr -c 'A-Za-z0-9._-' '_' | sed 's/^_*//' | tail -c 40)
    hash=$(printf '%s' "$REPO" | sha256sum | cut -c1-8)
    echo "${base}-${hash}"
}

mount_checkout() {
    local key state_dir shared common d
    key=$(checkout_key)
    state_dir="$STATE/checkouts/$key"
    mkdir -p "$ROOT$state_dir/venv" "$ROOT$state_dir/build"
    echo "$REPO" >"$ROOT$state_dir/checkout-path"
    for d in .venv build; do
        if [[ -L "$REPO/$d" ]]; then die "$REPO/$d is a symbolic link; the chroot needs a real folder there"; fi
        # An empty mount point when the host has none yet (git ignores both).
        [[ -d "$REPO/$d" ]] || mkdir "$REPO/$d"
    done
    mount_system
    bind "$REPO" "$REPO"
    bind "$ROOT$state_dir/venv" "$REPO/.venv"
    bind "$ROOT$state_dir/build" "$REPO/build"
    shared="$(dirname "$REPO")/shared"
    if [[ -d "$shared" ]]; then bind "$shared" "$shared"; else say "note: no $shared beside the checkout"; fi
    if [[ -n "${DMS2F_HAD_DATA:-}" && -d "$DMS2F_HAD_DATA" ]]; then
        d=$(cd "$DMS2F_HAD_DATA" && pwd -P)
        case "$d/" in "$REPO"/*|"$shared"/*) ;; *) bind "$d" "$d" ro ;; esac
    fi
    # A worktree's git directory lives in the main clone; scripts/package.py needs git.
    common=$(git -C "$REPO" rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)
    if [[ -n "$common" && -d "$common" ]]; then
        common=$(cd "$common" && pwd -P)
        case "$common/" in "$REPO"/*) ;; *) bind "$common" "$common" ;; esac
    fi
    mkdir -p "$ROOT$PIP_CACHE" "$ROOT$WHEELHOUSE"
}

# Runs inside the chroot, in the checkout (declare -f'd into bash -c).
# pip's HTTP cache is no use here (the network in between strips the caching headers), so the
# wheels are kept in a wheelhouse in the chroot: downloaded once, installed offline from there.
inner_setup() {
    set -euo pipefail
    make --no-print-directory system .venv/bin/python
    local stamp=.venv/.dms2f_requirements.stamp
    if [[ ! ( -f $stamp && $stamp -nt requirements.txt && $stamp -nt requirements-dev.txt ) ]]; then
        local constraints torch_req
        constraints=$(mktemp)
        /usr/bin/python3 -c 'import numpy, scipy, osgeo; print(f"numpy=={numpy.__version__}\nscipy=={scipy.__version__}\nGDAL=={osgeo.__version__}")' >"$constraints"
        mkdir -p "$WHEELHOUSE"
        torch_req=$(grep -E '^torch[=<>~!]' requirements.txt | head -n1)
        if [[ -n "$TORCH_INDEX_URL" && -n "$torch_req" ]] && ! ls "$WHEELHOUSE"/torch-*+cpu-*.whl >/dev/null 2>&1; then
            echo "[debian13] trying $torch_req from $TORCH_INDEX_URL (CPU build)"
            if .venv/bin/python -m pip download --no-deps --index-url "$TORCH_INDEX_URL" --timeout 15 --retries 1 \
                    -d "$WHEELHOUSE" "$torch_req"; then
                echo "[debian13] torch comes from $TORCH_INDEX_URL"
            else
                echo "[debian13] $TORCH_INDEX_URL is not reachable: torch comes from PyPI" \
                     "(CUDA build with nvidia-* wheels, about 2.8 GB; kept in $WHEELHOUSE)"
            fi
        fi
        # Fetch what the wheelhouse lacks (files already there are not downloaded again; a local
        # torch +cpu wheel wins over PyPI's), then install from the wheelhouse alone.
        .venv/bin/python -m pip download --no-input -d "$WHEELHOUSE" --find-links "$WHEELHOUSE" \
            -r requirements-dev.txt -c "$constraints"
        .venv/bin/python -m pip install --no-input --no-index --find-links "$WHEELHOUSE" \
            -r requirements-dev.txt -c "$constraints"
        rm -f "$constraints"
    fi
    # The Makefile's own steps: its pip install (now a no-op), dev_setup.py's links, the checks.
    make --no-print-directory dev
}

run_in_checkout() {  # run_in_checkout SCRIPT [ARGS...]: bash -c SCRIPT in the checkout, inside the chroot
    local script=$1
    shift
    in_chroot /bin/bash -c "cd \"\$1\" && shift && $script" bash "$REPO" "$@"
}

inner() {
    unset _DMS2F_DEBIAN13_INNER
    local cmd=$1 t0 quoted shell_env d
    shift
    trap cleanup EXIT
    trap 'say "interrupted"; exit 130' INT
    trap 'say "terminated"; exit 143' TERM
    case "$cmd" in
    setup|test)
        t0=$SECONDS
        ensure_chroot
        mount_checkout
        CHROOT_ENV+=("TORCH_INDEX_URL=$TORCH_INDEX_URL" "WHEELHOUSE=$WHEELHOUSE")
        say "checkout $REPO: venv and build folder of the chroot in $ROOT$STATE/checkouts/$(checkout_key)"
        run_in_checkout "$(declare -f inner_setup); inner_setup" </dev/null
        say "set-up took $((SECONDS - t0)) s"
        if [[ "$cmd" == test ]]; then
            quoted=""
            (($# == 0)) || quoted=$(printf '%q ' "$@")
            say "make test PYTEST_ARGS=${quoted:-(none)} on Debian 13 (QGIS $(in_chroot dpkg-query -W -f='${Version}' qgis))"
            # Make's recipe hands PYTEST_ARGS to bash, which undoes the %q quoting.
            run_in_checkout 'make --no-print-directory test PYTEST_ARGS="$1"' "$quoted" </dev/null
        fi
        ;;
    shell)
        ensure_chroot
        mount_checkout
        say "Debian 13 chroot $ROOT; checkout $REPO (.venv and build/ are the chroot's own; 'make dev' sets them up)"
        # The environment the Makefile exports, so that a command here behaves as under `make`.
        # shellcheck disable=SC2016 # expanded inside the chroot
        shell_env='export QT_QPA_PLATFORM=offscreen QGIS_CUSTOM_CONFIG_PATH="$PWD/build/qgis-profile"
            export XDG_RUNTIME_DIR="$PWD/build/xdg-runtime"; mkdir -p "$XDG_RUNTIME_DIR"; chmod 700 "$XDG_RUNTIME_DIR"'
        if (($# == 0)); then
            run_in_checkout "$shell_env"'; export PS1="(debian13) \w# "; exec bash --norc -i'
        else
            run_in_checkout "$shell_env"'; exec "$@"' "$@"
        fi
        ;;
    upgrade)
        ensure_chroot
        mount_system
        in_chroot /bin/sh -c 'apt-get update -q && apt-get upgrade -y -q && apt-get clean' </dev/null
        ;;
    info)
        [[ -f "$(stamp debootstrap)" ]] || die "no chroot at $ROOT yet: scripts/debian13.sh setup"
        echo "chroot:   $ROOT ($(du -sh --one-file-system "$ROOT" 2>/dev/null | cut -f1))"
        echo "wheels:   $ROOT$WHEELHOUSE ($(du -sh "$ROOT$WHEELHOUSE" 2>/dev/null | cut -f1))"
        echo "packages: $(cat "$(stamp packages)" 2>/dev/null)"
        chroot_env
        in_chroot /bin/sh -c 'echo "versions: qgis $(dpkg-query -W -f="\${Version}" qgis) python3 $(dpkg-query -W -f="\${Version}" python3) numpy $(dpkg-query -W -f="\${Version}" python3-numpy) gdal $(dpkg-query -W -f="\${Version}" gdal-bin)"'
        for d in "$ROOT$STATE"/checkouts/*/; do
            [[ -d "$d" ]] && echo "checkout: $(cat "$d/checkout-path" 2>/dev/null) -> $d ($(du -sh "$d" | cut -f1))"
        done
        if [[ -f "$ROOT$STATE/build-times.log" ]]; then echo "build times:"; cat "$ROOT$STATE/build-times.log"; fi
        ;;
    esac
}

# Everything above only defines functions and constants; this single line does the work, so bash
# has read all of it before running (editing the file during a run cannot break that run).
{ if [[ "${_DMS2F_DEBIAN13_INNER:-}" != 1 ]]; then outer "$@"; else inner "$@"; fi; exit; }
