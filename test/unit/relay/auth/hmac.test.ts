/** relay/auth/hmac.ts computes HMAC-SHA256 itself (two one-shot hashes): the same bytes as createHmac, always. */
import crypto from 'node:crypto';
import t from 'tap';
import { hmacBase64url } from '../../../../relay/auth/hmac.ts';

const reference = (key: Buffer, text: string) => crypto.createHmac('sha256', key).update(text).digest('base64url');
const hexToB64url = (hex: string) => Buffer.from(hex, 'hex').toString('base64url');

t.test("RFC 4231's HMAC-SHA-256 vectors (those with a text message)", async (t) => {
  t.equal(hmacBase64url(Buffer.alloc(20, 0x0b), 'Hi There'), hexToB64url('b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7'), 'test case 1');
  t.equal(hmacBase64url(Buffer.from('Jefe'), 'what do ya want for nothing?'), hexToB64url('5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843'), 'test case 2 (short key)');
  t.equal(
    hmacBase64url(Buffer.alloc(131, 0xaa), 'Test Using Larger Than Block-Size Key - Hash Key First'),
    hexToB64url('60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54'),
    'test case 6 (a key longer than a block is hashed first)',
  );
});

t.test('the same as createHmac for any secret and text', async (t) => {
  const secrets = [Buffer.alloc(0), Buffer.alloc(1, 7), crypto.randomBytes(32), crypto.randomBytes(64), crypto.randomBytes(65), crypto.randomBytes(200)];
  const texts = ['', 'a', `visitor\0acc_x\0${'v'.repeat(16)}`, 'é€😀\u0000', '\ud800 lone surrogate \udc00', 'x'.repeat(341), 'é'.repeat(341), '😀'.repeat(171), 'x'.repeat(342), '€'.repeat(5000)];
  let mismatches = 0;
  for (const secret of secrets) {
    for (const text of texts) if (hmacBase64url(secret, text) !== reference(secret, text)) mismatches++;
    // Interleaved texts of every length: nothing of a longer text is left in a shorter one's input.
    for (let n = 400; n >= 0; n -= 7) {
      const text = String.fromCharCode(...Array.from({ length: n }, (_, i) => 32 + ((i * 31 + n) % 95)));
      if (hmacBase64url(secret, text) !== reference(secret, text)) mismatches++;
    }
  }
  t.equal(mismatches, 0, 'no mismatch');
  const a = crypto.randomBytes(32);
  const b = Buffer.from(a);
  b[0] ^= 1;
  t.not(hmacBase64url(a, 'same text'), hmacBase64url(b, 'same text'), 'two secrets, two answers (keys are cached per secret)');
  t.equal(hmacBase64url(a, 'same text'), reference(a, 'same text'), 'and each is still right');
});
