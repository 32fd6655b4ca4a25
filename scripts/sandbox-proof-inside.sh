#!/bin/sh
# Runs inside the container that scripts/sandbox-proof.sh boots, under its
# systemd (PID 1), as the sslhist-proof.service oneshot. Sets up what README
# "Installing on a bastion host" says, runs sslhistd.service as installed
# and checks it. Prints one line per check; exits non-zero if one failed.
set -u
SECRET=Proof-t0ken-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
failed=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; failed=1; }
check() {	# check WHAT COMMAND...: the command's exit status decides
	what=$1
	shift
	if "$@" >/dev/null 2>&1; then ok "$what"; else bad "$what"; fi
}
# wait_for SECONDS WHAT COMMAND...: until the command succeeds, bounded.
wait_for() {
	limit=$1 what=$2
	shift 2
	i=0
	while [ "$i" -lt $((limit * 5)) ]; do
		if "$@" >/dev/null 2>&1; then ok "$what"; return 0; fi
		sleep 0.2
		i=$((i + 1))
	done
	bad "$what (not within $limit s)"
	return 1
}
psql_su() { runuser -u postgres -- psql -X -q -A -t -v ON_ERROR_STOP=1 -c "$1"; }
prop() { systemctl show -P "$1" sslhistd; }

echo "== set-up (README: Installing on a bastion host)"
check "systemd-sysusers creates the user" systemd-sysusers
check "systemd-tmpfiles creates /etc/sslhist and /var/lib/sslhist" systemd-tmpfiles --create
check "the sslhist user exists" id sslhist
wait_for 60 "PostgreSQL 15 is up" pg_isready -h 127.0.0.1 -q
psql_su "CREATE ROLE monitor LOGIN PASSWORD 'monitor-pass' IN ROLE pg_monitor"
# On stdin, not in argv: a command line lands in the journal (_CMDLINE=).
printf "CREATE ROLE iam_user LOGIN PASSWORD '%s' IN ROLE pg_monitor;\n" "$SECRET" |
	runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1
psql_su "CREATE ROLE app LOGIN PASSWORD 'app'"
umask 027
printf '%s\n' "$SECRET" > /etc/sslhist/proof.secret
printf '127.0.0.1:5432:*:monitor:monitor-pass\n' > /etc/sslhist/pgpass
chgrp sslhist /etc/sslhist/proof.secret
# libpq ignores a passfile that group or others can read: the daemon's own.
chown sslhist:sslhist /etc/sslhist/pgpass
chmod 0600 /etc/sslhist/pgpass
cat > /etc/sslhist/sslhist.conf <<EOF
[sslhistd]
interval = 1s
on_non_ssl = /usr/local/libexec/sslhist-alert /var/lib/sslhist/alerts

[defaults]
host = 127.0.0.1
dbname = postgres
sslmode = require

[cluster iam]
user = iam_user
password_command = /usr/local/libexec/proof-token

[cluster pass]
user = monitor
passfile = /etc/sslhist/pgpass
EOF
chgrp sslhist /etc/sslhist/sslhist.conf
chmod 0640 /etc/sslhist/sslhist.conf
umask 022
check "sslhistd --check accepts the file" /usr/local/bin/sslhistd --check -c /etc/sslhist/sslhist.conf
PGPASSWORD=app psql -X -q "host=127.0.0.1 user=app dbname=postgres sslmode=disable application_name=proof-plain" \
	-c "SELECT pg_sleep(600)" >/dev/null 2>&1 &
PGPASSWORD=app psql -X -q "host=127.0.0.1 user=app dbname=postgres sslmode=require application_name=proof-tls" \
	-c "SELECT pg_sleep(600)" >/dev/null 2>&1 &
useradd --no-create-home --groups sslhist dbaudit

echo "== the service"
check "systemctl start sslhistd (Type=notify: READY=1)" systemctl start sslhistd
wait_for 30 "STATUS= shows both instances ok" sh -c \
	'systemctl show -P StatusText sslhistd | grep -q "2 instances: 2 ok, 0 failing"'
echo "     StatusText=$(prop StatusText)"
wait_for 30 "the on_non_ssl hook ran in the sandbox and wrote its log" \
	grep -q "non-ssl cluster=.*app=proof-plain" /var/lib/sslhist/alerts/events.log
check "the password_command ran with the instance in its environment" \
	grep -q "^127.0.0.1:5432:iam_user$" /var/lib/sslhist/token-calls.log
if grep -q "etc writable" /var/lib/sslhist/token-calls.log || [ -e /etc/sslhist/written-by-password-command ]; then
	bad "ProtectSystem=strict: the password_command wrote to /etc"
else
	ok "ProtectSystem=strict: the password_command could not write to /etc"
fi
wait_for 20 "a member of group sslhist reads the history with sslhist" sh -c \
	'runuser -u dbaudit -- sslhist clients --non-ssl --format csv | grep -q proof-plain'
runuser -u dbaudit -- sslhist instances 2>&1 | sed 's/^/     /'
runuser -u dbaudit -- sslhist alerts 2>&1 | sed 's/^/     /'
check "the database is 0640 sslhist:sslhist" sh -c \
	'[ "$(stat -c %a:%U:%G /var/lib/sslhist/history.db)" = 640:sslhist:sslhist ]'

echo "== reload"
pid=$(prop MainPID)
check "systemctl reload sslhistd" systemctl reload sslhistd
wait_for 10 "the daemon logged the reload" sh -c \
	'journalctl -u sslhistd -o cat | grep -q "^reloaded /etc/sslhist/sslhist.conf"'
check "same process after the reload" test "$(prop MainPID)" = "$pid"
check "still active after the reload" test "$(prop ActiveState)" = active

echo "== journal"
check "a non-SSL event in the journal with its fields" sh -c \
	'journalctl -u sslhistd -o export MESSAGE_ID=5b1c7e0f4a2d4e6c9d3f8a1b2c3d4e01 | grep -q "^SSLHIST_USER=app$"'
if journalctl -o export | grep -q "$SECRET" || grep -q "$SECRET" /var/lib/sslhist/history.db* ; then
	bad "the password is in the journal or the database"
else
	ok "the password is in neither the journal nor the database"
fi

echo "== security"
score=$(systemd-analyze security sslhistd.service 2>/dev/null |
	sed -n 's/.*Overall exposure level for sslhistd.service: \([0-9.]*\).*/\1/p')
if [ -n "$score" ] && awk "BEGIN { exit !($score <= 1.5) }"; then
	ok "systemd-analyze security on the loaded unit: $score"
else
	bad "systemd-analyze security on the loaded unit: '$score'"
fi

echo "== watchdog"
mkdir -p /etc/systemd/system/sslhistd.service.d
printf '[Service]\nWatchdogSec=4s\nRestartSec=1s\nTimeoutStopSec=3s\n' \
	> /etc/systemd/system/sslhistd.service.d/proof.conf
systemctl daemon-reload
check "restart with WatchdogSec=4s" systemctl restart sslhistd
wait_for 20 "polling again after the restart" sh -c \
	'systemctl show -P StatusText sslhistd | grep -q "2 ok"'
restarts=$(prop NRestarts)
pid=$(prop MainPID)
kill -STOP "$pid"
wait_for 30 "systemd's watchdog killed the stopped daemon and restarted it" sh -c \
	"[ \"\$(systemctl show -P NRestarts sslhistd)\" -gt $restarts ] &&
	 [ \"\$(systemctl show -P MainPID sslhistd)\" != $pid ] &&
	 [ \"\$(systemctl show -P MainPID sslhistd)\" != 0 ]"
journalctl -u sslhistd -o cat | grep -i "watchdog" | tail -n 3 | sed 's/^/     /'
wait_for 20 "the new process polls" sh -c \
	'systemctl show -P StatusText sslhistd | grep -q "2 ok"'
check "systemctl stop sslhistd" systemctl stop sslhistd
check "the daemon exited 0" test "$(prop ExecMainStatus)" = 0
check "stopped cleanly (Result=success)" test "$(prop Result)" = success

echo "== the daemon's journal"
journalctl -u sslhistd -o short-monotonic --no-pager | tail -n 25 | sed 's/^/     /'
[ "$failed" -eq 0 ] && echo "SANDBOX PROOF PASSED" || echo "SANDBOX PROOF FAILED"
exit "$failed"
