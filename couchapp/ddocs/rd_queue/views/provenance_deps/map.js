function (doc) {
  if (doc.rd_provenance_of && doc.extensions) {
    for (var ext in doc.extensions) {
      var deps = doc.extensions[ext].deps || [];
      for (var i = 0; i < deps.length; i++) emit(deps[i], [ext, doc.rd_provenance_of]);
    }
  }
}
