// Composes subgraph SDL files into a supergraph with @apollo/composition (prints SDL or errors as JSON).
import { readFileSync } from "node:fs";
import { composeServices } from "@apollo/composition";
import { parse } from "graphql";

const [, , ...pairs] = process.argv; // name=url=path ...
const services = pairs.map((pair) => {
  const [name, url, path] = pair.split("=");
  return { name, url, typeDefs: parse(readFileSync(path, "utf8")) };
});
const result = composeServices(services);
if (result.errors) {
  process.stdout.write(JSON.stringify({ errors: result.errors.map((e) => ({ code: e.extensions?.code, message: e.message })) }));
  process.exit(1);
}
const { Supergraph, ROUTER_SUPPORTED_SUPERGRAPH_FEATURES } = await import("@apollo/federation-internals");
// The router's feature set: SECURITY features such as @authenticated are served by routers, not by the gateway.
const sg = Supergraph.build(result.supergraphSdl, { supportedFeatures: ROUTER_SUPPORTED_SUPERGRAPH_FEATURES });
const { printSchema } = await import("@apollo/federation-internals");
process.stdout.write(JSON.stringify({ supergraphSdl: result.supergraphSdl, apiSchema: printSchema(sg.apiSchema()) }));
