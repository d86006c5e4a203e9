#!/usr/bin/env bash
# Removes the links that a killed test cluster left in Slurm's configuration directory.
#   tests/slurm/clear_stale_links.sh ETC_DIR STATE_DIR     (start_slurm.sh: /etc/slurm and its state)
#
# start_slurm.sh links ETC_DIR/slurm.conf and ETC_DIR/gres.conf to STATE/etc/; stop_slurm.sh removes
# them. A run killed before stop_slurm.sh (a CI job cancelled, a session ended) leaves them behind,
# and the next start must not refuse the machine for it. A link is stale when it points to
# OLD_STATE/etc/NAME of another directory that is a test cluster's (it carries start_slurm.sh's
# marker .echo2ecg-slurm, or it is gone and its name is echo2ecg-slurm*) and no daemon recorded in
# OLD_STATE/pids still runs. Only such links are removed, each with a message; a regular file, a
# link to anything else and a link to a running cluster are left as they are (start_slurm.sh then
# refuses to replace them).
set -euo pipefail
ETC_DIR="$1"
STATE="$2"

cluster_alive() {  # cluster_alive DIR: some daemon recorded in DIR/pids still runs its program
    local daemon pid
    [[ -f "$1/pids" ]] || return 1
    while read -r daemon pid; do
        [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q -- "$daemon" && return 0
    done < "$1/pids"
    return 1
}

for name in slurm.conf gres.conf; do
    link="$ETC_DIR/$name"
    [[ -L "$link" ]] || continue
    target="$(readlink "$link")"
    old_state="${target%/etc/$name}"
    [[ "$target" != "$STATE/etc/$name" && "$old_state" != "$target" ]] || continue
    if [[ -e "$old_state/.echo2ecg-slurm" ]] \
        || { [[ ! -e "$target" ]] && [[ "$(basename "$old_state")" == echo2ecg-slurm* ]]; }; then
        if ! cluster_alive "$old_state"; then
            echo "start_slurm.sh: removing $link, a stale link to the stopped test cluster $old_state" >&2
            rm -f -- "$link"
        fi
    fi
done
