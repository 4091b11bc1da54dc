#!/usr/bin/env node
/*
 * TEST DOUBLE, not product code. Starts @vercel/cosmosdb-server 1.0.1 (pinned in package.json) for the
 * Cosmos state contract tests, with three small patches that bring three of its request handlers to the
 * documented Azure Cosmos DB behaviour, and HTTP keep-alive. Everything else is the package's own code.
 * Each patch is named by the gap it closes (tests/cosmosdb_server.py lists them too):
 *
 *   GAP-READ-404    GET of a missing document answers 500 ("Cannot read properties of undefined"),
 *                   because handler/read-document.js dereferences the missing item.
 *                   Documented: "404 Not Found - The document no longer exists"
 *                   (learn.microsoft.com/rest/api/cosmos-db/get-a-document).
 *   GAP-BATCH-PK    A transactional batch whose operations carry no per-operation partitionKey answers 500
 *                   "Failed to parse x-ms-documentdb-partitionkey headers: undefined" for replace, upsert,
 *                   delete and read (handler/_document-operations.js). azure-cosmos for Python sends the
 *                   batch's key once, in the x-ms-documentdb-partitionkey header. Documented: a
 *                   transactional batch is "a group of point operations that need to either succeed or
 *                   fail together with the same partition key in a container"
 *                   (learn.microsoft.com/azure/cosmos-db/transactional-batch).
 *   GAP-BATCH-ATOM  A failing batch keeps what the operations before the failing one wrote and answers 200
 *                   (handler/batch-documents.js has no rollback). Documented (same page): "if any operation
 *                   fails, the entire transaction is rolled back", and "the failed operation will have a
 *                   status code of its corresponding error. All the other operations will have a 424 status
 *                   code (failed dependency)". The gateway answers 207 Multi-Status.
 *
 * Left as it is and named by a strict xfail instead (tests/contract/test_state_cosmos.py):
 *   GAP-QUERY-PK    A query sent with x-ms-documentdb-partitionkey runs over every partition. The adapter's
 *                   queries repeat the partition as a filter, so its results do not depend on this.
 *
 * Usage: node cosmosdb_server.js --host 127.0.0.1 -p 0   (prints the package CLI's ready line)
 * The patches replace module exports before lib/routes.js (loaded by require(lib) at the bottom) captures them.
 */
"use strict";

const lib = "@vercel/cosmosdb-server/lib";
const readDocument = require(`${lib}/handler/read-document`);
const batchDocuments = require(`${lib}/handler/batch-documents`);
const jsonBody = require(`${lib}/json`);
const partitionHeader = require(`${lib}/utils/get-partition-from-header`);

const NOT_FOUND = { code: "NotFound", message: "Entity with the specified id does not exist in the system." };

// GAP-READ-404: answer 404 when the addressed document is not in the header's partition.
const readDocumentAsPackaged = readDocument.default;
readDocument.default = (account, req, res, params) => {
  const collection = account.database(params.dbId).collection(params.collId);
  const header = partitionHeader.default(req);
  if (collection.read() && header && !collection.document(params.docId, partitionHeader.parsePartitionKey(header, params.docId)).read()) {
    res.statusCode = 404;
    return NOT_FOUND;
  }
  return readDocumentAsPackaged(account, req, res, params);
};

// GAP-BATCH-PK + GAP-BATCH-ATOM. The body is read here, then the snapshot is taken; from then on nothing
// awaits I/O until the packaged handler's synchronous loop has run, so no other request runs in between.
const readJson = jsonBody.default;
jsonBody.default = req => (req.batchBody !== undefined ? Promise.resolve(req.batchBody) : readJson(req));
const batchAsPackaged = batchDocuments.default;
batchDocuments.default = async (account, req, res, params) => {
  const body = await readJson(req);
  const header = partitionHeader.default(req);
  req.batchBody = Array.isArray(body) ? body.map(op => ({ partitionKey: header, ...op })) : body; // GAP-BATCH-PK
  const collection = account.database(params.dbId).collection(params.collId);
  const items = collection.read() ? collection.documents : undefined;
  const before = items && [new Map(items._data), new Map(items._index), items._ridCount];
  const results = await batchAsPackaged(account, req, res, params);
  const failed = Array.isArray(results) ? results.findIndex(r => r.statusCode >= 400 && r.statusCode !== 424) : -1;
  if (failed < 0 || !items) return results;
  [items._data, items._index, items._ridCount] = before; // GAP-BATCH-ATOM: all or nothing
  res.statusCode = 207;
  return results.map((result, i) => (i === failed ? result : { statusCode: 424, requestCharge: 0 }));
};

// The package's server with keep-alive: its CLI answers "connection: close", a new TLS handshake per call.
const { createHttpsServer } = require(lib);
const argv = process.argv.slice(2);
const flag = name => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : undefined; };
const host = flag("--host") || "127.0.0.1";
const server = createHttpsServer({ keepAlive: true }).listen(parseInt(flag("-p") || "0", 10), host, () => {
  console.log(`Ready to accept HTTPS connections at ${host}:${server.address().port}`);
});
