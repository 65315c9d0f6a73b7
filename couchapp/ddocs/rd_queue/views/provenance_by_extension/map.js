function (doc) {
  if (doc.rd_provenance_of && doc.extensions) {
    for (var ext in doc.extensions) emit([ext, doc.extensions[ext].code_hash], doc.rd_provenance_of);
  }
}
