// tls_echo_node.js -- TLS echo server on Node's tls module.
//
//   node tls_echo_node.js PORT CERTFILE KEYFILE   (127.0.0.1:PORT, until killed)
//
// tls.createServer with the certificate and its key (Node's defaults
// otherwise), 'secureConnection' -> socket.on('data') -> socket.write(data),
// pausing until 'drain' when write() returns false, noDelay (TCP_NODELAY)
// like the other servers: bench/net/echo_node.js over TLS.
'use strict';
const fs = require('fs');
const tls = require('tls');

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || process.argv.length !== 5) {
  console.error('usage: node tls_echo_node.js PORT CERTFILE KEYFILE');
  process.exit(2);
}

const server = tls.createServer({
  cert: fs.readFileSync(process.argv[3]),
  key: fs.readFileSync(process.argv[4]),
}, (socket) => {
  socket.setNoDelay(true);
  socket.on('data', (data) => {
    if (!socket.write(data)) {
      socket.pause();
      socket.once('drain', () => socket.resume());
    }
  });
  socket.on('error', () => socket.destroy());
});
server.on('tlsClientError', () => {}); // a client that fails its handshake: closed, not logged
server.listen({ host: '127.0.0.1', port, backlog: 1024 }, () => {
  console.log(`listening on 127.0.0.1:${server.address().port}`);
});
process.on('SIGTERM', () => process.exit(0));
