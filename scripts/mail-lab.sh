# shellcheck shell=bash
# A private mail lab in two network namespaces: real dovecot and exim servers on the server side, a
# client side joined to it by one veth pair, documentation addresses only. Sourced (not run) by
# scripts/record-fixtures (which records fixtures from it) and scripts/live-test (which runs
# plainsight live on it), so both see the same servers configured the same way.
#
# The caller sets, before calling anything here:
#   LAB_NAME          prefix of log lines, e.g. record-fixtures
#   LAB_NS_S LAB_NS_C server and client namespace names (must be unique to the caller)
#   LAB_IF_S LAB_IF_C veth end names in the server and client namespace
# and then, in order: lab_install_packages; trap lab_cleanup EXIT; lab_reset; lab_workdir;
# lab_network ...; lab_certificate ...; lab_dovecot_conf/lab_exim_conf ...; lab_start_*; lab_wait_listeners.
# Everything it starts is recorded (LAB_SERVER_PIDS, the namespaces, LAB_WORK) and lab_cleanup stops
# exactly that: processes by PID and what is left inside the lab's own namespaces.

LAB_WORK=
LAB_SERVER_PIDS=()

lab_log() { printf '[%s] %s\n' "${LAB_NAME:-mail-lab}" "$*" >&2; }
lab_die() { lab_log "FATAL: $*"; exit 1; }

# ---------------------------------------------------------------- packages
LAB_PACKAGES=(dovecot-imapd dovecot-pop3d dovecot-submissiond dovecot-managesieved exim4-daemon-light swaks curl tcpdump
              python3 openssl ethtool iproute2 util-linux
              libnet-ssleay-perl libio-socket-ssl-perl libauthen-sasl-perl libdigest-hmac-perl libio-socket-inet6-perl)

# Installs what is missing under a temporary policy-rc.d that exits 101, so Debian does not start
# system-wide dovecot or exim daemons: the lab starts its own instances.
lab_install_packages() {
  local missing=() p
  for p in "${LAB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  lab_log "installing: ${missing[*]}"
  local prc=/usr/sbin/policy-rc.d ours=0
  if [[ -e $prc ]]; then
    # someone else's: fine only if it already denies every daemon start
    grep -qx 'exit 101' "$prc" || lab_die "$prc exists and does not 'exit 101'; refusing to touch it"
  else
    printf '#!/bin/sh\n# temporary, from plainsight scripts/mail-lab.sh\nexit 101\n' >"$prc"
    chmod 755 "$prc"
    ours=1
  fi
  local rc=0
  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
      --no-install-recommends "${missing[@]}"; } >&2 || rc=$?
  ((ours)) && rm -f "$prc"
  ((rc == 0)) || lab_die "apt-get failed ($rc)"
}

# ---------------------------------------------------------------- teardown
lab_kill_ns_pids() {  # processes left in OUR namespaces (only ones the lab started)
  local ns=$1 pid
  ip netns list 2>/dev/null | grep -qw "$ns" || return 0
  for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 20); do
    [[ -z $(ip netns pids "$ns" 2>/dev/null) ]] && break
    sleep 0.1
  done
  for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
}

# Removes the namespaces of an earlier run that was killed before it could clean up.
lab_reset() {
  lab_kill_ns_pids "$LAB_NS_C"; lab_kill_ns_pids "$LAB_NS_S"
  ip netns del "$LAB_NS_C" 2>/dev/null || true
  ip netns del "$LAB_NS_S" 2>/dev/null || true
}

# Stops the servers (by PID), whatever else runs in the lab's namespaces, deletes the namespaces
# and the work directory (kept when LAB_KEEP_WORK=1). Safe to call more than once.
lab_cleanup() {
  local pid alive
  for pid in "${LAB_SERVER_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for _ in $(seq 1 30); do
    alive=0
    for pid in "${LAB_SERVER_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  LAB_SERVER_PIDS=()
  lab_reset
  if [[ -n $LAB_WORK && -d $LAB_WORK ]]; then
    if [[ ${LAB_KEEP_WORK:-0} == 1 ]]; then lab_log "kept $LAB_WORK"; else rm -rf "$LAB_WORK"; fi
  fi
  LAB_WORK=
}

lab_workdir() {
  LAB_WORK=$(mktemp -d "/tmp/plainsight-${LAB_NAME:-lab}.XXXXXX")
  chmod 755 "$LAB_WORK"
}

# ---------------------------------------------------------------- network
# lab_network "SERVER-ADDR/PREFIX ..." "CLIENT-ADDR/PREFIX ..." (IPv6 addresses get nodad)
lab_network() {
  local srv_addrs=$1 cli_addrs=$2 a ns ifc ns_if
  lab_log "creating namespaces $LAB_NS_S / $LAB_NS_C"
  ip netns add "$LAB_NS_S"
  ip netns add "$LAB_NS_C"
  ip link add "$LAB_IF_C" netns "$LAB_NS_C" address 02:00:00:00:00:01 type veth \
     peer name "$LAB_IF_S" netns "$LAB_NS_S" address 02:00:00:00:00:10
  for ns in "$LAB_NS_S" "$LAB_NS_C"; do
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
  done
  for a in $srv_addrs; do ip -n "$LAB_NS_S" addr add "$a" dev "$LAB_IF_S" $([[ $a == *:* ]] && echo nodad); done
  for a in $cli_addrs; do ip -n "$LAB_NS_C" addr add "$a" dev "$LAB_IF_C" $([[ $a == *:* ]] && echo nodad); done
  # Offloads off: otherwise a capture holds oversized segments with bad checksums.
  ip netns exec "$LAB_NS_S" ethtool -K "$LAB_IF_S" tx off rx off tso off gso off gro off >/dev/null 2>&1 || true
  ip netns exec "$LAB_NS_C" ethtool -K "$LAB_IF_C" tx off rx off tso off gso off gro off >/dev/null 2>&1 || true
  for ns_if in "$LAB_NS_S:$LAB_IF_S" "$LAB_NS_C:$LAB_IF_C"; do
    ns=${ns_if%%:*} ifc=${ns_if#*:}
    ip netns exec "$ns" ethtool -k "$ifc" | grep -Eq '^tcp-segmentation-offload: off' \
      || lab_die "could not turn TSO off on $ifc"
    # no IPv6 router solicitations or other chatter: keep captures to the scenario
    ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$ifc.router_solicitations=0" || true
  done
  ip -n "$LAB_NS_S" link set "$LAB_IF_S" up
  ip -n "$LAB_NS_C" link set "$LAB_IF_C" up
}

# ---------------------------------------------------------------- certificate
# lab_certificate "IP:192.0.2.10,IP:2001:db8::10": a throwaway self-signed certificate for
# mail.example.net in $LAB_WORK/cert.pem and key.pem.
lab_certificate() {
  local alt=$1
  lab_log "making a self-signed certificate"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=mail.example.net" \
    -addext "subjectAltName=DNS:mail.example.net,$alt" \
    -keyout "$LAB_WORK/key.pem" -out "$LAB_WORK/cert.pem" 2>/dev/null
  chmod 644 "$LAB_WORK/cert.pem" "$LAB_WORK/key.pem"   # throwaway key, read by exim's unprivileged user
  # Credentials: the caller writes these (dovecot passwd-file, exim lsearch file).
  mkdir -p "$LAB_WORK/home"; chmod 1777 "$LAB_WORK/home"
  : >"$LAB_WORK/passwd"; : >"$LAB_WORK/exim-passwd"; chmod 644 "$LAB_WORK/passwd" "$LAB_WORK/exim-passwd"
}

# ---------------------------------------------------------------- dovecot
# lab_dovecot_conf NAME LISTEN SSL DISABLE_PLAINTEXT [SUBMISSION_PORT RELAY_HOST]
# IMAP 143 and POP3 110 (plus 10143/10110 for "main"), IMAPS 993 and POP3S 995 when SSL is not "no",
# ManageSieve 4190 (STARTTLS offered when SSL is not "no", as for IMAP); with SUBMISSION_PORT, dovecot's submission service there, relaying to RELAY_HOST:25.
lab_dovecot_conf() {
  local name=$1 listen=$2 ssl=$3 dpa=$4 sub_port=${5:-} relay=${6:-} d=$LAB_WORK/dovecot-$1
  mkdir -p "$d/run" "$d/state"
  local ssl_lines="ssl = $ssl"
  if [[ $ssl != no ]]; then
    ssl_lines+=$'\n'"ssl_cert = <$LAB_WORK/cert.pem"$'\n'"ssl_key = <$LAB_WORK/key.pem"
  fi
  local tls_listeners=""
  [[ $ssl != no ]] && tls_listeners=yes
  local protocols="imap pop3 sieve" submission=""
  if [[ -n $sub_port ]]; then
    protocols+=" submission"
    submission="submission_relay_host = $relay
submission_relay_port = 25
submission_relay_trusted = yes
service submission-login {
  inet_listener submission {
    port = $sub_port
  }
}"
  fi
  cat >"$d/dovecot.conf" <<CONF
# plainsight ${LAB_NAME:-mail-lab}: dovecot instance "$name"
instance_name = ps-${LAB_NAME:-lab}-$name
base_dir = $d/run
state_dir = $d/state
listen = $listen
protocols = $protocols
log_path = $d/dovecot.log
info_log_path = $d/dovecot.log
auth_verbose = yes
default_login_user = dovenull
default_internal_user = dovecot
hostname = mail.example.net
$ssl_lines
disable_plaintext_auth = $dpa
auth_mechanisms = plain login cram-md5 apop
# empty: accept any username byte (the default set rejects UTF-8 such as "jürgen")
auth_username_chars =
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $LAB_WORK/passwd
}
userdb {
  driver = passwd-file
  args = username_format=%u $LAB_WORK/passwd
  default_fields = uid=65534 gid=65534 home=$LAB_WORK/home/%u
}
mail_location = maildir:~/Maildir
first_valid_uid = 1000
protocol pop3 {
  pop3_uidl_format = %08Xu%08Xv
}
service imap-login {
  inet_listener imap {
    port = 143
  }
  inet_listener imap_alt {
    port = $( [[ $name == main ]] && echo 10143 || echo 0 )
  }
  inet_listener imaps {
    port = $( [[ -n $tls_listeners ]] && echo 993 || echo 0 )
    ssl = $( [[ -n $tls_listeners ]] && echo yes || echo no )
  }
}
service pop3-login {
  inet_listener pop3 {
    port = 110
  }
  inet_listener pop3_alt {
    port = $( [[ $name == main ]] && echo 10110 || echo 0 )
  }
  inet_listener pop3s {
    port = $( [[ -n $tls_listeners ]] && echo 995 || echo 0 )
    ssl = $( [[ -n $tls_listeners ]] && echo yes || echo no )
  }
}
# ManageSieve (pigeonhole, dovecot-managesieved); scripts in pigeonhole's default ~/sieve
service managesieve-login {
  inet_listener sieve {
    port = 4190
  }
}
$submission
CONF
}

# ---------------------------------------------------------------- exim
# lab_exim_conf NAME INTERFACES PORTS TLS_ON_CONNECT CERT
# AUTH (PLAIN, LOGIN, CRAM-MD5 from $LAB_WORK/exim-passwd) offered before TLS; every message is
# accepted and thrown away. A CERT that does not exist makes STARTTLS fail with 454.
lab_exim_conf() {
  local name=$1 ifaces=$2 ports=$3 toc=$4 cert=$5 d=$LAB_WORK/exim-$1
  mkdir -p "$d/spool" "$d/log"
  chown -R Debian-exim:Debian-exim "$d/spool" "$d/log"
  cat >"$d/exim.conf" <<CONF
# plainsight ${LAB_NAME:-mail-lab}: exim instance "$name"
primary_hostname = mail.example.net
qualify_domain = example.net
local_interfaces = <; $ifaces
daemon_smtp_ports = $ports
$( [[ -n $toc ]] && echo "tls_on_connect_ports = $toc" )
spool_directory = $d/spool
log_file_path = $d/log/%slog
host_lookup =
rfc1413_hosts =
rfc1413_query_timeout = 0s
queue_only = true
smtp_accept_max = 20
tls_advertise_hosts = *
tls_certificate = $cert
tls_privatekey = $LAB_WORK/key.pem
auth_advertise_hosts = *
pipelining_advertise_hosts = *
chunking_advertise_hosts = *
acl_smtp_rcpt = acl_rcpt

begin acl
acl_rcpt:
  accept

begin routers
blackhole:
  driver = redirect
  data = :blackhole:

begin authenticators
PLAIN:
  driver = plaintext
  public_name = PLAIN
  server_prompts = :
  server_condition = \${if and {{!eq{\$auth2}{}}{eq{\$auth3}{\${lookup{\$auth2}lsearch{$LAB_WORK/exim-passwd}{\$value}fail}}}}}
  server_set_id = \$auth2
LOGIN:
  driver = plaintext
  public_name = LOGIN
  server_prompts = Username:: : Password::
  server_condition = \${if eq{\$auth2}{\${lookup{\$auth1}lsearch{$LAB_WORK/exim-passwd}{\$value}fail}}}
  server_set_id = \$auth1
CRAM:
  driver = cram_md5
  public_name = CRAM-MD5
  server_secret = \${lookup{\$auth1}lsearch{$LAB_WORK/exim-passwd}{\$value}fail}
  server_set_id = \$auth1
CONF
}

# ---------------------------------------------------------------- start servers
lab_wait_pidfile() {  # FILE -> prints pid
  local f=$1
  for _ in $(seq 1 50); do
    [[ -s $f ]] && { cat "$f"; return 0; }
    sleep 0.1
  done
  return 1
}

# Servers run in their own UTS namespace named mail.example.net, so no build-host name leaks into
# captures (dovecot's APOP timestamp uses the system hostname). 9>&-: daemons must not inherit a
# caller's lock on descriptor 9.
lab_in_srv() { ip netns exec "$LAB_NS_S" unshare --uts sh -c 'hostname mail.example.net && exec "$0" "$@"' "$@" 9>&-; }

lab_start_dovecot() {  # NAME
  local d=$LAB_WORK/dovecot-$1 pid
  lab_in_srv dovecot -c "$d/dovecot.conf" \
    || { cat "$d/dovecot.log" >&2 2>/dev/null; lab_die "dovecot $1 did not start"; }
  pid=$(lab_wait_pidfile "$d/run/master.pid") || lab_die "dovecot $1 wrote no PID file"
  LAB_SERVER_PIDS+=("$pid")
}

lab_start_exim() {  # NAME
  local d=$LAB_WORK/exim-$1 pid
  lab_in_srv exim4 -C "$d/exim.conf" -bd -oP "$d/exim.pid" || lab_die "exim $1 did not start"
  pid=$(lab_wait_pidfile "$d/exim.pid") || { cat "$d"/log/* >&2; lab_die "exim $1 wrote no PID file"; }
  LAB_SERVER_PIDS+=("$pid")
}

# lab_wait_listeners "HOST PORT" ...: every listener answers from the client namespace (5 s each).
lab_wait_listeners() {
  local hp h p ok
  for hp in "$@"; do
    read -r h p <<<"$hp"
    ok=0
    for _ in $(seq 1 50); do
      if ip netns exec "$LAB_NS_C" timeout 2 bash -c "exec 3<>/dev/tcp/$h/$p" 2>/dev/null; then ok=1; break; fi
      sleep 0.1
    done
    ((ok)) || lab_die "no listener on $h port $p"
  done
}

# ---------------------------------------------------------------- tunnel (scripts/live-test --tunnel)
# lab_tunnel TYPE ID "SRV-UNDERLAY/P" "CLI-UNDERLAY/P" MTU "SERVER-ADDR/PREFIX ..." "CLIENT-ADDR/PREFIX ..."
# Called after lab_network "" "": the veth pair becomes the underlay (its addresses, and MTU as the
# veths' MTU), and a tunnel device in each namespace, $LAB_IF_S-tun and $LAB_IF_C-tun, carries the
# mail addresses (the overlay), so every lab packet crosses the veths encapsulated. TYPE:
#   vxlan   kernel VXLAN, VNI ID, UDP port 4789, outer DF unset; overlay MTU 1450 on a 1500-byte
#           underlay (nothing fragments), else 1500 (the kernel fragments the outer datagrams)
#   gretap  Ethernet over GRE with key ID, the kernel's default MTU and pmtudisc (for a 1500-byte
#           underlay; fails where the kernel has no gretap: the caller probes)
# With an underlay MTU below 1500 both namespaces set net.ipv4.ip_no_pmtu_disc=1: the inner IPv4
# packets go without DF, so the VTEP fragments the outer datagram instead of lowering the inner
# path MTU. Offloads go off on the tunnel devices too (correct inner checksums in the capture).
LAB_TUN_S= LAB_TUN_C=
lab_tunnel() {
  local type=$1 id=$2 u_s=$3 u_c=$4 mtu=$5 srv_addrs=$6 cli_addrs=$7 a ns_if ns ifc local remote
  LAB_TUN_S=$LAB_IF_S-tun LAB_TUN_C=$LAB_IF_C-tun
  lab_log "underlay ${u_s%/*} <-> ${u_c%/*} (MTU $mtu), $type id $id"
  ip -n "$LAB_NS_S" addr add "$u_s" dev "$LAB_IF_S"
  ip -n "$LAB_NS_C" addr add "$u_c" dev "$LAB_IF_C"
  ip -n "$LAB_NS_S" link set "$LAB_IF_S" mtu "$mtu"
  ip -n "$LAB_NS_C" link set "$LAB_IF_C" mtu "$mtu"
  for ns_if in "$LAB_NS_S:$LAB_TUN_S:${u_s%/*}:${u_c%/*}" "$LAB_NS_C:$LAB_TUN_C:${u_c%/*}:${u_s%/*}"; do
    IFS=: read -r ns ifc local remote <<<"$ns_if"
    case $type in
      vxlan) ip -n "$ns" link add "$ifc" type vxlan id "$id" dstport 4789 local "$local" remote "$remote" df unset \
               || lab_die "cannot create a vxlan device" ;;
      gretap) ip -n "$ns" link add "$ifc" type gretap local "$local" remote "$remote" key "$id" \
               || lab_die "cannot create a gretap device" ;;
      *) lab_die "unknown tunnel type '$type'" ;;
    esac
    # VXLAN's usual sizing (50 bytes below the underlay) where the underlay is 1500 bytes: nothing
    # fragments; a 1500-byte overlay over a smaller underlay: the kernel fragments
    if [[ $type == vxlan ]]; then ip -n "$ns" link set "$ifc" mtu $((mtu < 1500 ? 1500 : 1450)); fi
    if ((mtu < 1500)); then ip netns exec "$ns" sysctl -qw net.ipv4.ip_no_pmtu_disc=1; fi
    ip netns exec "$ns" ethtool -K "$ifc" tx off tso off gso off gro off >/dev/null 2>&1 || true
    ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$ifc.router_solicitations=0" || true
    ip -n "$ns" link set "$ifc" up
  done
  for a in $srv_addrs; do ip -n "$LAB_NS_S" addr add "$a" dev "$LAB_TUN_S" $([[ $a == *:* ]] && echo nodad); done
  for a in $cli_addrs; do ip -n "$LAB_NS_C" addr add "$a" dev "$LAB_TUN_C" $([[ $a == *:* ]] && echo nodad); done
}
