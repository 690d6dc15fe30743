// http_node.js -- HTTP/1.1 keep-alive server on Node's http module.
//
//   node http_node.js PORT       (listens on 127.0.0.1:PORT until killed)
//
// Answers every request with 200 and "Hello, World!\n" (Content-Length 14,
// Content-Type text/plain).  Node adds its own Date, Connection and
// Keep-Alive headers.
'use strict';
const http = require('http');

const port = Number(process.argv[2]);
if (!Number.isInteger(port)) {
  console.error('usage: node http_node.js PORT');
  process.exit(2);
}

const body = 'Hello, World!\n';
const server = http.createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length });
  res.end(body);
});
server.listen({ host: '127.0.0.1', port, backlog: 1024 });
