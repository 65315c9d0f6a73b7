function (doc) {
  // Items written by an extension's later_handler (source "rd!later": they aggregate a
  // whole batch, so no single source's provenance lists them); unprocess removes them.
  var items = doc.rd_schema_items;
  if (!items) return;
  for (var writer in items) {
    var source = items[writer].rd_source;
    if (source && source.id === 'rd!later') emit(writer, null);
  }
}
