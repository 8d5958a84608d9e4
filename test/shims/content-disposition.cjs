// Node's require() loads ES modules; Jest's (run with --experimental-vm-modules for PGlite) does not.
// @fastify/static requires content-disposition 3, ESM-only, for reply.download() alone, which
// Arbiter never calls (Swagger UI assets are served with sendFile). Under Jest it resolves here.
module.exports = {
  create() {
    throw new Error('content-disposition is not loaded under Jest');
  },
};
