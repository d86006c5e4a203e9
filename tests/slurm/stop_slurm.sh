#!/usr/bin/env bash
# Stops every daemon tests/slurm/start_slurm.sh started (its pids, newest first; nothing else).
#   tests/slurm/stop_slurm.sh [STATE_DIR]    (default /tmp/echo2ecg-slurm)
set -uo pipefail
STATE="$(realpath -m "${1:-/tmp/echo2ecg-slurm}")"
[[ -f "$STATE/pids" ]] || { echo "stop_slurm.sh: no $STATE/pids, nothing to stop" >&2; exit 0; }

alive() {  # alive PID NAME: the pid still runs the program it was started as
    [[ -r /proc/$1/cmdline ]] && tr '\0' ' ' < "/proc/$1/cmdline" | grep -q -- "$2"
}

tac "$STATE/pids" | while read -r name pid; do
    alive "$pid" "$name" || continue
    kill -TERM "$pid"
    for _ in $(seq 50); do alive "$pid" "$name" || break; sleep 0.2; done
    if alive "$pid" "$name"; then
        echo "stop_slurm.sh: $name ($pid) ignored SIGTERM for 10 s, sending SIGKILL" >&2
        kill -KILL "$pid"
    fi
done
rm -f "$STATE/pids"
for name in slurm.conf gres.conf; do  # the links start_slurm.sh made, only if they are still its own
    [[ "$(readlink "/etc/slurm/$name" 2>/dev/null)" == "$STATE/etc/$name" ]] && rm -f "/etc/slurm/$name"
done
echo "stop_slurm.sh: stopped the daemons of $STATE" >&2
