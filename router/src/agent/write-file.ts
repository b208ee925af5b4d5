/** The requests of one agent WriteFile call: the header, then the body's chunks as data frames. */
import { WriteFileRequestSchema, create } from '@sandbank/proto';
import type { MessageInitShape, WriteFileHeaderSchema, WriteFileRequest } from '@sandbank/proto';

export async function* writeFileRequests(
  header: MessageInitShape<typeof WriteFileHeaderSchema>,
  chunks: AsyncIterable<Buffer>,
): AsyncGenerator<WriteFileRequest> {
  yield create(WriteFileRequestSchema, { frame: { case: 'header', value: header } });
  for await (const chunk of chunks)
    yield create(WriteFileRequestSchema, { frame: { case: 'data', value: chunk } });
}
