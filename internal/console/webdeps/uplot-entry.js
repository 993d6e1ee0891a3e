// What the console takes from uPlot: the chart. build.mjs bundles this into
// ../web/uplot.js, and copies uPlot's stylesheet to ../web/uplot.css.
export { default as uPlot } from 'uplot';
