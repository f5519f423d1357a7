# Shared by the scripts that wait for a TCP port (sourced; not run on its own).

# port_open PORT: succeeds when something accepts connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
