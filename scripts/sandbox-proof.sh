#!/bin/sh
# Proves the shipped unit's sandbox under a real systemd (not part of CI):
# boots Debian 12 in a systemd-nspawn container made by debootstrap, installs
# this build there with `cmake --install`, and runs sslhistd.service as
# shipped against the container's own PostgreSQL 15, with the README's hook
# script (on_non_ssl) and a password_command. Inside, as PID 1 sees it:
#   * the service starts (Type=notify: READY=1), STATUS= shows every
#     instance ok, the hook ran and wrote its log under /var/lib/sslhist,
#     the password_command's password logged in (and it could not write to
#     /etc: ProtectSystem=strict);
#   * a user in group sslhist reads the history with `sslhist clients`;
#   * `systemctl reload` re-reads the file (RELOADING=1 ... READY=1) without
#     a restart; the journal has the structured fields; the password is in
#     neither the journal nor the database;
#   * `systemd-analyze security` on the loaded unit scores at most 1.5;
#   * with WatchdogSec=4s (a drop-in) and the daemon SIGSTOPped, systemd's
#     watchdog kills it and Restart=on-failure brings it back.
# The container's output is in $DIR/out/result; the script exits 0 only if
# every check passed.
#
# usage (as root): scripts/sandbox-proof.sh [BUILD_DIR]
#   SSLHIST_PROOF_DIR      work directory (default /var/tmp/sslhist-proof);
#                          the debootstrapped root is kept there for reruns
#   SSLHIST_PROOF_MACHINE  container name (default sslhist-proof)
# Needs the network to the Debian archive once (debootstrap) and installs
# debootstrap and systemd-container if missing.
set -eu
cd "$(dirname "$0")/.."
BUILD=$(cd "${1:-build}" && pwd)
DIR=${SSLHIST_PROOF_DIR:-/var/tmp/sslhist-proof}
MACHINE=${SSLHIST_PROOF_MACHINE:-sslhist-proof}
ROOT=$DIR/root
PKGS=systemd,systemd-sysv,dbus,procps,ssl-cert,postgresql-15,postgresql-client-15
PKGS=$PKGS,libpq5,libevent-2.1-7,libsqlite3-0,libsystemd0,libssl3,libinih1

for tool in debootstrap systemd-nspawn; do
	if ! command -v "$tool" >/dev/null; then
		apt-get update -q
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
			debootstrap systemd-container
		break
	fi
done
mkdir -p "$DIR"
if [ ! -x "$ROOT/usr/lib/postgresql/15/bin/postgres" ]; then
	rm -rf "$ROOT"
	debootstrap --variant=minbase --include="$PKGS" bookworm "$ROOT" \
		http://deb.debian.org/debian
fi

# This build, installed as a person would (cmake --install), and the files
# of the proof.
DESTDIR=$ROOT cmake --install "$BUILD" >/dev/null
mkdir -p "$ROOT/usr/local/libexec"
awk '/^Example, `\/usr\/local\/libexec\/sslhist-alert`/ { want = 1 }
     want && /^```sh$/ { inside = 1; next }
     inside && /^```$/ { exit }
     inside { print }' README.md > "$ROOT/usr/local/libexec/sslhist-alert"
chmod 0755 "$ROOT/usr/local/libexec/sslhist-alert"
cat > "$ROOT/usr/local/libexec/proof-token" <<'EOF'
#!/bin/sh
# A password_command as an IAM token generator would be: it learns the
# instance from the environment and prints the secret on stdout.
set -eu
echo "$SSLHIST_HOST:$SSLHIST_PORT:$SSLHIST_USER" >> /var/lib/sslhist/token-calls.log
if touch /etc/sslhist/written-by-password-command 2>/dev/null; then
	echo "etc writable" >> /var/lib/sslhist/token-calls.log
fi
cat /etc/sslhist/proof.secret
EOF
chmod 0755 "$ROOT/usr/local/libexec/proof-token"
cp scripts/sandbox-proof-inside.sh "$ROOT/usr/local/sbin/sslhist-proof"
chmod 0755 "$ROOT/usr/local/sbin/sslhist-proof"
cat > "$ROOT/etc/systemd/system/sslhist-proof.service" <<'EOF'
[Unit]
Description=sslhist sandbox proof
After=postgresql.service multi-user.target
[Service]
Type=oneshot
ExecStart=/bin/sh -c '/usr/local/sbin/sslhist-proof > /out/result 2>&1; echo $? > /out/status; systemctl --no-block poweroff'
[Install]
WantedBy=multi-user.target
EOF
mkdir -p "$ROOT/etc/systemd/system/multi-user.target.wants"
ln -sf /etc/systemd/system/sslhist-proof.service \
	"$ROOT/etc/systemd/system/multi-user.target.wants/sslhist-proof.service"

rm -rf "$DIR/out"
mkdir -p "$DIR/out"
# --ephemeral: every run boots the same fresh image; nothing it does stays.
timeout 600 systemd-nspawn --quiet --keep-unit --register=no --ephemeral -D "$ROOT" -M "$MACHINE" \
	--bind="$DIR/out:/out" --console=pipe -b >"$DIR/out/console" 2>&1 || true
cat "$DIR/out/result" 2>/dev/null || echo "no result: see $DIR/out/console"
status=$(cat "$DIR/out/status" 2>/dev/null || echo 1)
echo "sandbox proof: exit $status (output in $DIR/out)"
exit "$status"
