// `koa2` is Koa 2 installed under an alias for the compatibility tests; type it as Koa.
declare module 'koa2' {
  import Koa from 'koa';
  export default Koa;
}
