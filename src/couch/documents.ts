/** The shape of a stored CouchDB document as this layer sees it. */
export interface AttachmentStub {
  content_type: string;
  length?: number;
  digest?: string;
  stub?: boolean;
  data?: string;
  revpos?: number;
}

export interface CouchDoc {
  _id: string;
  _rev?: string;
  _deleted?: boolean;
  _attachments?: Record<string, AttachmentStub>;
  [field: string]: unknown;
}
