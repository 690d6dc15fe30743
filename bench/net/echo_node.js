// echo_node.js -- TCP echo server on Node's net module.
//
//   node echo_node.js PORT       (listens on 127.0.0.1:PORT until killed)
//
// net.createServer, socket.on('data') -> socket.write(data), with the usual
// back-pressure (pause until 'drain' when write() returns false) and
// noDelay (TCP_NODELAY) like the other servers.
'use strict';
const net = require('net');

const port = Number(process.argv[2]);
if (!Number.isInteger(port)) {
  console.error('usage: node echo_node.js PORT');
  process.exit(2);
}

const server = net.createServer({ noDelay: true }, (socket) => {
  socket.on('data', (data) => {
    if (!socket.write(data)) {
      socket.pause();
      socket.once('drain', () => socket.resume());
    }
  });
  socket.on('error', () => socket.destroy());
});
server.listen({ host: '127.0.0.1', port, backlog: 1024 });
