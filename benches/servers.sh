# The servers every benchmark script runs, by name, with the configuration
# each name stands for. Sourced by compare.sh, idle_memory.sh and
# scaling.sh; not run on its own.
#
#   server_cmd KIND NAME CORES: prints the command line (the port goes last),
#   or nothing if NAME has no server of KIND (echo, http or tls: a TLS echo).
#
# Binaries come from $bin (benches workspace) and $examples_dir (root examples).
# TLS servers take the certificate and key in $tls_dir/cert.pem and
# $tls_dir/key.pem when $tls_dir is set (else each makes its own).
#
#   runtime       examples/echo, examples/http_plaintext (async tasks)
#   engine        examples/engine_echo, examples/engine_http (callbacks)
#   tokio-lean    tokio current_thread per core, enable_io() only (no time
#                 driver), 16 KiB buffer
#   tokio-ct      tokio current_thread per core, enable_all() (I/O and time
#                 driver), 64 KiB buffer
#   tokio-mt      tokio multi_thread, CORES workers, one listener, 64 KiB
#   glommio       one LocalExecutor per core (io_uring), 64 KiB
#   monoio-uring  one monoio runtime per core, IoUringDriver, 64 KiB
#   monoio-epoll  the same with LegacyDriver (epoll)
#   compio-uring  one compio runtime per core, io_uring driver, 64 KiB
#   compio-poll   the same with compio's polling (epoll) driver
#   floor         HTTP only: tokio_http_floor (tokio-lean set-up, counts
#                 blank lines and parses nothing: the lean floor, no server)
#   runtime-tls   TLS echo: examples/tls_echo (async, runtime::net::tls)
#   engine-tls    TLS echo: examples/engine_tls_echo (callbacks, Options::tls)
#   tokio-rustls  TLS echo: tokio_tls_echo, tokio-lean's set-up with
#                 tokio-rustls 0.26 (handshake, then read and write_all + flush)
#                 TLS: rustls 0.23, ring, rustls's default server config,
#                 session tickets on (benches/src/tls.rs)
#
# Every server listens on 127.0.0.1 with one SO_REUSEPORT listener per core
# (tokio-mt: one listener), answers every complete request of a read and
# writes the replies together, and allocates no buffer before a connection's
# first byte.

# shellcheck shell=bash
all_echo_servers=(runtime engine tokio-lean tokio-ct tokio-mt glommio monoio-uring monoio-epoll
    compio-uring compio-poll)
all_http_servers=(runtime engine tokio-lean tokio-ct tokio-mt glommio monoio-uring monoio-epoll
    compio-uring compio-poll floor)
all_tls_servers=(runtime-tls engine-tls tokio-rustls)

server_cmd() { # kind name cores
    local kind=$1 name=$2 cores=$3 p cert=
    if [[ $kind == echo ]]; then p=echo; else p=http; fi
    [[ -n ${tls_dir:-} ]] && cert="--cert $tls_dir/cert.pem --key $tls_dir/key.pem "
    case $kind:$name in
        tls:runtime-tls) echo "$examples_dir/tls_echo --cores $cores $cert--port" ;;
        tls:engine-tls) echo "$examples_dir/engine_tls_echo --cores $cores $cert--port" ;;
        tls:tokio-rustls) echo "$bin/tokio_tls_echo --cores $cores --flavor current_thread_io --buffer 16384 $cert--port" ;;
        tls:*) ;;
        echo:runtime) echo "$examples_dir/echo --cores $cores --port" ;;
        http:runtime) echo "$examples_dir/http_plaintext --cores $cores --port" ;;
        echo:engine) echo "$examples_dir/engine_echo --cores $cores --port" ;;
        http:engine) echo "$examples_dir/engine_http --cores $cores --port" ;;
        *:tokio-lean) echo "$bin/tokio_$p --cores $cores --flavor current_thread_io --buffer 16384 --port" ;;
        *:tokio-ct) echo "$bin/tokio_$p --cores $cores --flavor current_thread --port" ;;
        *:tokio-mt) echo "$bin/tokio_$p --cores $cores --flavor multi_thread --port" ;;
        *:glommio) echo "$bin/glommio_$p --cores $cores --port" ;;
        *:monoio-uring) echo "$bin/monoio_$p --cores $cores --driver uring --port" ;;
        *:monoio-epoll) echo "$bin/monoio_$p --cores $cores --driver epoll --port" ;;
        *:compio-uring) echo "$bin/compio_$p --cores $cores --driver uring --port" ;;
        *:compio-poll) echo "$bin/compio_$p --cores $cores --driver poll --port" ;;
        http:floor) echo "$bin/tokio_http_floor --cores $cores --flavor current_thread_io --buffer 16384 --port" ;;
    esac
}

# The benches binaries the servers above need.
bench_bins=(loadgen tokio_echo tokio_http tokio_http_floor glommio_echo glommio_http monoio_echo
    monoio_http compio_echo compio_http tls_loadgen tls_cert tokio_tls_echo)
