# tests/cluster/slurm-netns.sh - a 3-node Slurm cluster made of network namespaces (sourced)
#
#   cluster_up SCRATCH   returns 0, or 77 after setting $skip_reason (no root,
#                        no namespaces, no Slurm/munge), or 1 on a real failure
#   cluster_down         stops everything cluster_up started, by PID, and deletes
#                        the namespaces; safe to call twice and after a partial up
#   in_ctl CMD...        runs a Slurm client command from the controller's host
#
# Hosts are namespaces on one bridge (in a "switch" namespace), none with a
# default route: c (slurmctld, 10.231.7.2) and n1..n3 (one slurmd each,
# 10.231.7.11-13). munged runs in the root namespace on a private socket
# (a unix socket is not tied to a network namespace). Slurm's daemons get
# scratch paths, their own config and the plugins that work without cgroups
# or systemd: see reference/slurm_netns.md for why each line is there.

CL_NET=10.231.7
CL_PREFIX=fcl7c$$_
CL_NODES="n1 n2 n3"
cl_netns=()
cl_pids=()
cl_made_run_netns=0
skip_reason=""

in_ns() { local ns=$1; shift; nsenter --net="/run/netns/$CL_PREFIX$ns" "$@"; }
in_ctl() { in_ns c "$@"; }
cl_log() { echo "# cluster: $*"; }

cl_need() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || { skip_reason="$c not installed"; return 77; }
	done
}

# cl_wait_pidfile FILE: the PID of a daemon once it wrote its pid file (5 s at most)
cl_wait_pidfile() {
	local i
	for i in $(seq 100); do
		[ -s "$1" ] && { cat "$1"; return 0; }
		sleep 0.05
	done
	return 1
}

cluster_up() {
	local S=$1 h a i=0 pid
	S=$(realpath -m "$S")
	CL_S=$S
	[ "$(id -u)" -eq 0 ] || { skip_reason="needs root for network namespaces"; return 77; }
	cl_need ip nsenter munged mungekey slurmctld slurmd srun sbatch scontrol squeue sinfo scancel || return 77
	[ -d /run/netns ] || cl_made_run_netns=1
	if ! ip netns add "${CL_PREFIX}sw" 2>"$S.netns.err"; then
		skip_reason="cannot create network namespaces: $(head -n1 "$S.netns.err")"
		rm -f "$S.netns.err"
		return 77
	fi
	rm -f "$S.netns.err"
	cl_netns+=("${CL_PREFIX}sw")
	ip -n "${CL_PREFIX}sw" link set lo up
	ip -n "${CL_PREFIX}sw" link add br0 type bridge || { skip_reason="no bridge support"; return 77; }
	ip -n "${CL_PREFIX}sw" link set br0 up
	for h in c $CL_NODES; do
		a=$([ "$h" = c ] && echo 2 || echo $((10 + ${h#n})))
		ip netns add "$CL_PREFIX$h" || return 1
		cl_netns+=("$CL_PREFIX$h")
		# the veth's far end is born inside the host: the root namespace never sees it
		ip -n "${CL_PREFIX}sw" link add "p$i" type veth peer name eth0 netns "$CL_PREFIX$h" ||
			{ skip_reason="no veth support"; return 77; }
		ip -n "${CL_PREFIX}sw" link set "p$i" master br0
		ip -n "${CL_PREFIX}sw" link set "p$i" up
		ip -n "$CL_PREFIX$h" link set lo up
		ip -n "$CL_PREFIX$h" addr add "$CL_NET.$a/24" dev eth0
		ip -n "$CL_PREFIX$h" link set eth0 up
		i=$((i + 1))
	done

	mkdir -p "$S"/{etc,key,run,log,spool/ctld}
	chmod 700 "$S/key"
	chmod 755 "$S" "$S/run" # munged wants o+x on its socket's folders
	mungekey -c -k "$S/key/munge.key" >/dev/null 2>&1 || { skip_reason="mungekey failed"; return 77; }
	munged --key-file="$S/key/munge.key" --socket="$S/run/munge.sock" \
		--pid-file="$S/run/munged.pid" --log-file="$S/log/munged.log" \
		--seed-file="$S/key/munged.seed" 2>"$S/log/munged.err" ||
		{ skip_reason="munged does not start: $(head -n1 "$S/log/munged.err")"; return 77; }
	pid=$(cl_wait_pidfile "$S/run/munged.pid") && cl_pids+=("$pid")

	cat >"$S/etc/slurm.conf" <<CONF
ClusterName=fclci
SlurmctldHost=$(hostname -s)($CL_NET.2)
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$S/run/munge.sock
CredType=cred/munge
StateSaveLocation=$S/spool/ctld
SlurmdSpoolDir=$S/spool/%n
SlurmctldPidFile=$S/run/slurmctld.pid
SlurmdPidFile=$S/run/slurmd.%n.pid
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd.%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
MailProg=/bin/true
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
SchedulerParameters=bf_interval=1
NodeName=n1 NodeAddr=$CL_NET.11 CPUs=4 RealMemory=1024 State=UNKNOWN
NodeName=n2 NodeAddr=$CL_NET.12 CPUs=4 RealMemory=1024 State=UNKNOWN
NodeName=n3 NodeAddr=$CL_NET.13 CPUs=4 RealMemory=1024 State=UNKNOWN
PartitionName=ci Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
	export SLURM_CONF=$S/etc/slurm.conf
	in_ctl slurmctld -f "$SLURM_CONF" -c 2>"$S/log/slurmctld.err" ||
		{ skip_reason="slurmctld does not start: $(head -n1 "$S/log/slurmctld.err")"; return 77; }
	pid=$(cl_wait_pidfile "$S/run/slurmctld.pid") && cl_pids+=("$pid")
	for h in $CL_NODES; do
		mkdir -p "$S/spool/$h"
		in_ns "$h" slurmd -f "$SLURM_CONF" -N "$h" 2>"$S/log/slurmd.$h.err" ||
			{ skip_reason="slurmd does not start: $(head -n1 "$S/log/slurmd.$h.err")"; return 77; }
		pid=$(cl_wait_pidfile "$S/run/slurmd.$h.pid") && cl_pids+=("$pid")
	done
	for i in $(seq 150); do
		[ "$(in_ctl sinfo -h -o %T 2>/dev/null | sort -u)" = idle ] && return 0
		sleep 0.2
	done
	skip_reason="Slurm nodes never became idle: $(in_ctl sinfo -h -N -o '%N:%T' 2>&1 | tr '\n' ' ')"
	return 77
}

cluster_down() {
	local p ns i alive
	if [ -n "${SLURM_CONF:-}" ] && [ ${#cl_netns[@]} -gt 0 ] && [ -e "/run/netns/${CL_PREFIX}c" ]; then
		in_ctl scancel --full -u root >/dev/null 2>&1
		in_ctl scontrol shutdown >/dev/null 2>&1
	fi
	[ -n "${CL_S:-}" ] && [ -S "$CL_S/run/munge.sock" ] &&
		munged --stop --socket="$CL_S/run/munge.sock" >/dev/null 2>&1
	for i in $(seq 50); do # 5 s for the daemons to go by themselves
		alive=0
		for p in "${cl_pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ $alive -eq 0 ] && break
		sleep 0.1
	done
	for p in "${cl_pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	# anything still running inside our namespaces (job steps of a killed slurmd)
	for ns in "${cl_netns[@]}"; do
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
	done
	for ns in "${cl_netns[@]}"; do ip netns del "$ns" 2>/dev/null; done
	cl_netns=()
	cl_pids=()
	if [ "$cl_made_run_netns" = 1 ] && [ -d /run/netns ] && [ -z "$(ls -A /run/netns)" ]; then
		umount /run/netns 2>/dev/null
		rmdir /run/netns 2>/dev/null
	fi
	cl_made_run_netns=0
}
