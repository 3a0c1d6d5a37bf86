import { normaliseOriginPattern, originAllowed } from '../relay/auth/origin.ts';
import { verifySecret } from '../relay/auth/secrets.ts';
for (const p of ['https://a.example.com', 'https://A.Example.com', 'https://a.example.com/', 'https://a.example.com:443', 'http://a.example.com:80', 'https://a.example.com:8443', 'https://*.example.com', 'https://*.example.com:443', 'https://*.EXAMPLE.com', 'https://*.bücher.de', 'https://*.exa mple.com', 'https://*.example.com:99999', 'https://*.evil.com@example.com', 'https://*.example.com/x', 'https://a.example.com/path', 'not-a-url', 'ftp://a.example.com', 'https://user@a.example.com', 'https://a.example.com?x', 'HTTPS://*.example.com', 'https://*.*.example.com', 'https://*.com', 'https://*.', '*', 'https://a.b.*.example.com']) {
  try { console.log(JSON.stringify(p), '->', normaliseOriginPattern(p)); } catch (e) { console.log(JSON.stringify(p), 'THROWS', (e as Error).message); }
}
console.log(originAllowed('https://a.example.com', ['https://*.example.com:443']));
for (const s of ['garbage', 'scrypt$a$b$c$d$e', 'scrypt$16384$8$1$$', 'scrypt$16384$8$1$AAAA$']) {
  try { console.log(s, await verifySecret('x', s)); } catch (e) { console.log(s, 'THROWS', (e as Error).message); }
}
