#!/usr/bin/env bash
# A real single-node Slurm cluster on this machine, for CI and tests/test_slurm.py:
# munged, MariaDB + slurmdbd (so that `sacct`, the executor plugin's default status command,
# answers), slurmctld and slurmd, all from Debian's packages, all state under one directory.
#
#   tests/slurm/start_slurm.sh [--install] [STATE_DIR]    (default STATE_DIR: /tmp/echo2ecg-slurm)
#   tests/slurm/stop_slurm.sh [STATE_DIR]                  stops every daemon started here, by pid
#
# --install: apt-get update and install slurmctld slurmd slurm-client slurmdbd munge mariadb-server
# (root). The node gets this machine's CPUs and memory and one GPU GRES backed by /dev/null, so
# that rules requesting `gpu` are scheduled and the plugin's `--gpus` is exercised; jobs still run
# on the CPU. Everything lives in STATE_DIR; outside it only two symbolic links,
# /etc/slurm/slurm.conf and /etc/slurm/gres.conf (where Slurm's clients look: the executor plugin
# drops SLURM_CONF from a job's environment before its `srun`), and munged's default socket when no
# munged runs. A machine that has its own /etc/slurm/slurm.conf is refused, not changed.
# Ports: SLURM_TEST_PORT_BASE (default 16817) + 0..3.
set -euo pipefail

if [[ "${1:-}" == "--install" ]]; then
    shift
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get update -q
    timeout 900 apt-get install -y -q --no-install-recommends \
        slurmctld slurmd slurm-client slurmdbd munge mariadb-server
fi

STATE="$(realpath -m "${1:-/tmp/echo2ecg-slurm}")"
PORT_BASE="${SLURM_TEST_PORT_BASE:-16817}"
CTLD_PORT=$PORT_BASE; SLURMD_PORT=$((PORT_BASE + 1)); DBD_PORT=$((PORT_BASE + 2)); DB_PORT=$((PORT_BASE + 3))
CLUSTER=echo2ecg-ci
NODE="$(hostname -s)"
CPUS="$(nproc)"
# Memory Slurm may hand out: 90 % of what the machine has (slurmd refuses more than it finds).
MEM_MB=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))

for cmd in munged mariadbd mariadb-install-db mariadb slurmdbd slurmctld slurmd sacctmgr sinfo sbatch sacct; do
    command -v "$cmd" >/dev/null || { echo "start_slurm.sh: $cmd not found (run with --install)" >&2; exit 2; }
done
ETC_SLURM=/etc/slurm
# Links left by a test cluster whose daemons are gone (its run was killed before stop_slurm.sh)
# are removed; anything else under /etc/slurm is never touched.
"$(dirname "$0")/clear_stale_links.sh" "$ETC_SLURM" "$STATE"
for name in slurm.conf gres.conf; do
    if [[ -e "$ETC_SLURM/$name" || -L "$ETC_SLURM/$name" ]] && [[ "$(readlink "$ETC_SLURM/$name")" != "$STATE/etc/$name" ]]; then
        echo "start_slurm.sh: $ETC_SLURM/$name exists and is not this test cluster's; refusing to replace it" >&2
        exit 2
    fi
done
if [[ -e "$STATE/pids" ]]; then
    echo "start_slurm.sh: $STATE/pids exists: a cluster from this directory may still run (tests/slurm/stop_slurm.sh $STATE)" >&2
    exit 2
fi

if [[ -d "$STATE" && -n "$(ls -A "$STATE")" && ! -e "$STATE/.echo2ecg-slurm" ]]; then
    echo "start_slurm.sh: $STATE is not empty and not a test cluster's directory; choose another" >&2
    exit 2
fi
rm -rf "$STATE"
mkdir -p "$STATE" && touch "$STATE/.echo2ecg-slurm"
mkdir -p "$STATE"/{etc,log,run,munge,mysql,spool/ctld,spool/d}
chmod 700 "$STATE/munge"
export SLURM_CONF="$STATE/etc/slurm.conf"
MUNGE_SOCKET=/run/munge/munge.socket.2
DB_SOCKET="$STATE/run/mysqld.sock"

# A daemon in the foreground of its own session; its pid is recorded for stop_slurm.sh.
start_daemon() {
    local name=$1; shift
    setsid "$@" >>"$STATE/log/$name.out" 2>&1 < /dev/null &
    echo "$name $!" >> "$STATE/pids"
}

wait_for() {  # wait_for DESCRIPTION SECONDS COMMAND...
    local what=$1 seconds=$2; shift 2
    for _ in $(seq $((seconds * 5))); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    echo "start_slurm.sh: $what did not come up within ${seconds}s; logs in $STATE/log" >&2
    tail -n 20 "$STATE"/log/* >&2 || true
    exit 1
}

# --- munge: the authentication every Slurm daemon and client uses -------------------------
# Slurm's clients (sacctmgr's connection to slurmdbd among them) use munged's default socket, so
# the cluster does too. A munged already serving it (a machine that runs munge) is used as it is.
if [[ -S "$MUNGE_SOCKET" ]] && munge -n -S "$MUNGE_SOCKET" | unmunge -S "$MUNGE_SOCKET" >/dev/null 2>&1; then
    echo "start_slurm.sh: using the running munged at $MUNGE_SOCKET" >&2
else
    mkdir -p "$(dirname "$MUNGE_SOCKET")"
    dd if=/dev/urandom of="$STATE/munge/munge.key" bs=1024 count=1 status=none
    chmod 400 "$STATE/munge/munge.key"
    start_daemon munged munged --foreground --force --key-file="$STATE/munge/munge.key" \
        --socket="$MUNGE_SOCKET" --pid-file="$STATE/run/munged.pid" --seed-file="$STATE/munge/seed" \
        --log-file="$STATE/log/munged.log"
    wait_for munged 20 bash -c "munge -n -S '$MUNGE_SOCKET' | unmunge -S '$MUNGE_SOCKET'"
fi

# --- MariaDB for the accounting database -----------------------------------------------------
mariadb-install-db --user=root --datadir="$STATE/mysql" --auth-root-authentication-method=socket \
    --skip-test-db >"$STATE/log/mariadb-install.out" 2>&1
start_daemon mariadbd mariadbd --no-defaults --user=root --datadir="$STATE/mysql" --socket="$DB_SOCKET" \
    --bind-address=127.0.0.1 --port="$DB_PORT" --pid-file="$STATE/run/mariadbd.pid" \
    --log-error="$STATE/log/mariadbd.log" --innodb-buffer-pool-size=64M --skip-log-bin
wait_for mariadbd 60 mariadb --no-defaults --socket="$DB_SOCKET" -u root -e "SELECT 1"
mariadb --no-defaults --socket="$DB_SOCKET" -u root <<SQL
CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm-ci';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
SQL

# --- configuration ---------------------------------------------------------------------------
cat > "$STATE/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
PidFile=$STATE/run/slurmdbd.pid
LogFile=$STATE/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=slurm-ci
StorageLoc=slurm_acct_db
EOF
chmod 600 "$STATE/etc/slurmdbd.conf"

cat > "$STATE/etc/slurm.conf" <<EOF
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$STATE/spool/ctld
SlurmdSpoolDir=$STATE/spool/d
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
AccountingStorageTRES=gres/gpu
AccountingStoreFlags=job_comment
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
ReturnToService=2
MinJobAge=300
KillWait=5
InactiveLimit=0
MpiDefault=none
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB Gres=gpu:1 State=UNKNOWN
PartitionName=ci Nodes=$NODE Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
# The GPU GRES: a device file that exists on every machine; jobs see it and run on the CPU.
echo "NodeName=$NODE Name=gpu File=/dev/null" > "$STATE/etc/gres.conf"

mkdir -p "$ETC_SLURM"
ln -sfn "$STATE/etc/slurm.conf" "$ETC_SLURM/slurm.conf"
ln -sfn "$STATE/etc/gres.conf" "$ETC_SLURM/gres.conf"

# --- slurmdbd, the cluster and its account, slurmctld, slurmd ---------------------------------
start_daemon slurmdbd slurmdbd -D  # reads slurmdbd.conf beside $SLURM_CONF
wait_for slurmdbd 60 sacctmgr -n show cluster
sacctmgr -i add cluster "$CLUSTER" >/dev/null
sacctmgr -i add account echo2ecg Cluster="$CLUSTER" Description="Echo2ECG CI" Organization=ci >/dev/null
sacctmgr -i add user "$(id -un)" Account=echo2ecg DefaultAccount=echo2ecg >/dev/null
start_daemon slurmctld slurmctld -D -f "$SLURM_CONF"
wait_for slurmctld 60 scontrol ping
start_daemon slurmd slurmd -D -f "$SLURM_CONF"
wait_for "slurmd (node idle)" 60 bash -c "sinfo -h -N -o '%T' | grep -qx idle"

echo "start_slurm.sh: cluster $CLUSTER up: node $NODE, $CPUS CPUs, $MEM_MB MB, gpu:1 (/dev/null); state in $STATE" >&2
