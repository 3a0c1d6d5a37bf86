/** The one wording of the consent prompt, whether the relay or this page's `requireConsent` asks. */
import type { Answer, Prompts } from './ui/prompt.ts';

export function askConsent(prompts: Prompts, agentId: string, name: string): Promise<Answer> {
  return prompts.ask(
    `consent:${agentId}`,
    `${name} wants to see this page`,
    'They will see this page as you do, with passwords and form entries hidden. You can stop sharing at any time.',
  );
}
