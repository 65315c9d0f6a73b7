function (doc) {
  // The queue's bookkeeping documents (rb!<key>): provenance per source document, then
  // per extension.
  if (doc.rd_bookkeeping_of && doc.provenance) {
    for (var source in doc.provenance) {
      var byExtension = doc.provenance[source];
      for (var ext in byExtension) emit([ext, byExtension[ext].code_hash], source);
    }
  }
}
