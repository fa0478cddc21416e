// Foreign (non-Strawberry) subgraphs: `node subgraphs.mjs <name> <port>` serves <name>.graphql with
// @apollo/subgraph's buildSubgraphSchema on @apollo/server (standalone) at http://127.0.0.1:<port>/.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, "../../apollo/package.json")); // the pinned npm project
const { ApolloServer } = require("@apollo/server");
const { startStandaloneServer } = require("@apollo/server/standalone");
const { buildSubgraphSchema } = require("@apollo/subgraph");
const { parse } = require("graphql");

const users = [{ id: "1", name: "Ada Lovelace", username: "ada" }, { id: "2", name: "Alan Turing", username: "alan" }];
const products = [
  { upc: "p1", name: "Widget", price: 10, weight: 2, category: "TOYS" },
  { upc: "p2", name: "Book", price: 25, weight: 1, category: "BOOKS" },
  { upc: "p3", name: "Rake", price: 40, weight: 5, category: "GARDEN" },
];
const reviews = [
  { id: "r1", body: "great", stars: 5, topic: "TOYS", author: "1", product: "p1" },
  { id: "r2", body: "meh", stars: 2, topic: "BOOKS", author: "2", product: "p2" },
  { id: "r3", body: "sharp", stars: 4, topic: null, author: "1", product: "p3" },
];
const ratings = { p1: [5, 4, 4], p2: [2] };
const blurbs = { p1: "Spins forever.", p3: "Leaves no leaf behind." };
const page = (list, args) => {
  const sorted = args.sort === "DESC" ? [...list].reverse() : list;
  const offset = args.page?.offset ?? 0;
  return sorted.slice(offset, offset + (args.page?.first ?? sorted.length));
};
const review = (r) => ({ ...r, author: { id: r.author }, product: { upc: r.product } });

const resolvers = {
  accounts: {
    Query: { me: () => users[0] },
    User: { __resolveReference: (ref) => users.find((u) => u.id === ref.id) ?? null },
  },
  products: {
    Query: { topProducts: (_, args) => page(products, args), product: (_, { upc }) => products.find((p) => p.upc === upc) },
    Product: { __resolveReference: (ref) => products.find((p) => p.upc === ref.upc) ?? null },
    // The interface entity: editorial's @interfaceObject sends `__typename: "Item"` representations.
    Item: {
      __resolveReference: (ref) => products.find((p) => p.upc === ref.upc) ?? null,
      __resolveType: () => "Product",
    },
  },
  reviews: {
    Query: {
      topReviews: (_, args) => page(reviews, args).map(review),
      feed: () => [review(reviews[0]), { __typename: "Product", upc: "p3" }],
    },
    FeedItem: { __resolveType: (item) => item.__typename ?? "Review" },
    Review: { __resolveReference: (ref) => review(reviews.find((r) => r.id === ref.id)) },
    User: {
      // @provides: the username is given with the author, without a jump to accounts.
      username: (u) => users.find((x) => x.id === u.id)?.username,
      reviews: (u) => reviews.filter((r) => r.author === u.id).map(review),
    },
    Product: { reviews: (p) => reviews.filter((r) => r.product === p.upc).map(review) },
  },
  editorial: {
    Query: { featured: () => [{ upc: "p3" }, { upc: "p1" }] },
    // @interfaceObject: an Item here is any implementation; editorial never learns which.
    Item: { __resolveReference: (ref) => ref, blurb: (i) => blurbs[i.upc] ?? null },
    // @override(label: "moderated-bodies"): only asked once a router turns the label on.
    Review: { __resolveReference: (ref) => ref, body: (r) => `${reviews.find((x) => x.id === r.id)?.body} (moderated)` },
  },
  ratings: {
    Product: {
      __resolveReference: (ref) => ref,
      ratings: (p, { top }) => (ratings[p.upc] ?? []).slice(0, top ?? undefined).map((stars) => ({ stars })),
    },
  },
  inventory: {
    Product: {
      __resolveReference: (ref) => ref,
      inStock: (p) => p.upc !== "p2",
      // @requires(fields: "price weight"): both arrive in the representation.
      shippingEstimate: (p) => (p.price > 20 ? 0 : p.weight * 3),
    },
  },
};

const [, , name, port] = process.argv;
const typeDefs = parse(readFileSync(join(here, `${name}.graphql`), "utf8"));
const server = new ApolloServer({ schema: buildSubgraphSchema([{ typeDefs, resolvers: resolvers[name] }]) });
const { url } = await startStandaloneServer(server, { listen: { port: Number(port), host: "127.0.0.1" } });
process.stdout.write(`ready ${url}\n`);
