/** Relay configuration: values that need more than an integer check. */
import t from 'tap';
import { ConfigError, loadConfig } from '../../../relay/config.ts';

t.test('AGENT_ORIGINS is normalised like account origins, and garbage stops the relay', async (t) => {
  t.same(loadConfig({}).agentOrigins, [], 'unset: none');
  t.same(
    loadConfig({ AGENT_ORIGINS: ' HTTPS://Agents.Example.com:443/ , https://*.Support.Example.com,http://localhost:3000' }).agentOrigins,
    ['https://agents.example.com', 'https://*.support.example.com', 'http://localhost:3000'],
    'case, default port, trailing slash and spaces normalised; wildcards kept',
  );
  for (const bad of ['agents.example.com', 'https://example.com/path', 'ftp://example.com', 'https://*', 'https://ex*ample.com']) {
    t.throws(() => loadConfig({ AGENT_ORIGINS: `https://ok.example.com,${bad}` }), ConfigError, `refused: ${bad}`);
  }
  try {
    loadConfig({ AGENT_ORIGINS: 'nope' });
  } catch (err) {
    t.match((err as Error).message, /^AGENT_ORIGINS: /, 'the message names the variable');
  }
});
