// Serves a supergraph file with Apollo Gateway on 127.0.0.1:<port> (the reference for differential tests).
import { readFileSync } from "node:fs";
import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";
import { ApolloGateway } from "@apollo/gateway";

const [, , supergraphPath, port] = process.argv;
const gateway = new ApolloGateway({ supergraphSdl: readFileSync(supergraphPath, "utf8") });
const server = new ApolloServer({ gateway, introspection: true, includeStacktraceInErrorResponses: false });
const { url } = await startStandaloneServer(server, { listen: { port: Number(port), host: "127.0.0.1" } });
process.stdout.write(`ready ${url}\n`);
