// `koa2` is Koa 2 under an alias, for the compatibility tests; its API is typed as Koa's.
declare module 'koa2' {
  import Koa from 'koa';
  export default Koa;
}
