// msgpackr treats a falsy export as 'no native extractor' and uses its pure-JS decoder.
module.exports = null;
