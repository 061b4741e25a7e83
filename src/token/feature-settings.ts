/**
 * GitLab's AI feature settings and the unit primitives each one covers.
 *
 * Source: `ee/lib/gitlab/ai/feature_settings/feature_metadata.yml` in the public copy
 * `flyisland/gitlab-ee` (master, 18.9-pre, Feb 2026; commit 8fbce3d3), read through
 * `Ai::FeatureSetting.unit_primitive_to_feature_name_map` (`ee/app/models/ai/feature_setting.rb`):
 * the map is built by walking the features in file order and assigning every listed unit primitive
 * to the feature, so a primitive listed twice belongs to the *last* feature that lists it.
 *
 * `CloudConnector::Tokens.get` uses that map to ask "is the feature setting of this unit primitive
 * assigned to a self-hosted model?" — the third reason GitLab self-issues a token.
 *
 * Note what the file says, not what one might guess: the unit primitive `duo_chat` belongs to the
 * feature setting `duo_agent_platform_agentic_chat` (Agentic Chat), while the feature setting
 * `duo_chat` (General Chat) covers `duo_classic_chat`, `chat` and the `include_*_context` primitives.
 * Older GitLab versions may map differently: pass `featureSettingMap` to the policy to override.
 */

export interface FeatureSettingInfo {
  /** The `ai_feature_settings.feature` enum name, e.g. `code_completions`. */
  readonly name: string
  /** The admin UI title, e.g. `Code Completion`. */
  readonly title: string
  readonly unitPrimitives: readonly string[]
}

/** Every feature in `feature_metadata.yml`, in file order. */
export const FEATURE_SETTINGS: readonly FeatureSettingInfo[] = deepFreeze([
  { name: 'code_generations', title: 'Code Generation', unitPrimitives: ['generate_code'] },
  { name: 'code_completions', title: 'Code Completion', unitPrimitives: ['complete_code', 'code_suggestions'] },
  {
    name: 'duo_chat',
    title: 'General Chat',
    unitPrimitives: [
      'duo_classic_chat',
      'chat',
      'include_file_context',
      'include_snippet_context',
      'include_merge_request_context',
      'include_issue_context',
      'include_dependency_context',
      'include_local_git_context',
      'include_terminal_context',
      'include_repository_context',
      'include_user_rule_context',
      'include_agent_user_environment_context',
    ],
  },
  { name: 'duo_chat_explain_code', title: 'Code Explanation', unitPrimitives: ['explain_code'] },
  { name: 'duo_chat_write_tests', title: 'Test Generation', unitPrimitives: ['write_tests'] },
  { name: 'duo_chat_refactor_code', title: 'Refactor Code', unitPrimitives: ['refactor_code'] },
  { name: 'duo_chat_fix_code', title: 'Fix Code', unitPrimitives: ['fix_code'] },
  { name: 'duo_chat_troubleshoot_job', title: 'Root Cause Analysis', unitPrimitives: ['troubleshoot_job'] },
  { name: 'duo_chat_explain_vulnerability', title: 'Vulnerability Explanation', unitPrimitives: ['explain_vulnerability'] },
  { name: 'duo_chat_summarize_comments', title: 'Discussion Summary', unitPrimitives: ['summarize_comments'] },
  { name: 'generate_commit_message', title: 'Merge Commit Message Generation', unitPrimitives: ['generate_commit_message'] },
  { name: 'summarize_new_merge_request', title: 'Merge Request Summary', unitPrimitives: ['summarize_new_merge_request'] },
  { name: 'resolve_vulnerability', title: 'Vulnerability Resolution', unitPrimitives: ['resolve_vulnerability'] },
  { name: 'summarize_review', title: 'Code Review Summary', unitPrimitives: ['summarize_review'] },
  { name: 'glab_ask_git_command', title: 'GitLab Duo for CLI', unitPrimitives: ['glab_ask_git_command'] },
  { name: 'review_merge_request', title: 'Code Review', unitPrimitives: ['review_merge_request'] },
  { name: 'review_merge_request_dap', title: 'Agentic Code Review', unitPrimitives: [] },
  {
    name: 'duo_agent_platform',
    title: 'Agents & flows',
    unitPrimitives: ['duo_workflow_execute_workflow', 'duo_agent_platform'],
  },
  { name: 'duo_agent_platform_agentic_chat', title: 'Agentic Chat', unitPrimitives: ['duo_chat'] },
  { name: 'sast_vulnerability_fp_detection', title: 'SAST Vulnerability False Positive Detection', unitPrimitives: [] },
  { name: 'sast_vulnerability_resolution', title: 'SAST Vulnerability Resolution', unitPrimitives: [] },
  { name: 'secret_vulnerability_fp_detection', title: 'Secret Vulnerability False Positive Detection', unitPrimitives: [] },
])

/** unit primitive → feature setting name, built exactly as `unit_primitive_to_feature_name_map` builds it. */
export const UNIT_PRIMITIVE_FEATURE_SETTINGS: Readonly<Record<string, string>> = Object.freeze(buildMap(FEATURE_SETTINGS))

/** The feature setting a unit primitive maps to, or undefined (then GitLab never self-signs for that reason). */
export function featureSettingFor(
  unitPrimitive: string,
  map: Readonly<Record<string, string>> = UNIT_PRIMITIVE_FEATURE_SETTINGS,
): string | undefined {
  return Object.hasOwn(map, unitPrimitive) ? map[unitPrimitive] : undefined
}

/** The admin UI title of a feature setting ("Code Completion"), when known. */
export function featureSettingTitle(name: string): string | undefined {
  return FEATURE_SETTINGS.find((f) => f.name === name)?.title
}

function buildMap(features: readonly FeatureSettingInfo[]): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>
  for (const feature of features) {
    for (const up of feature.unitPrimitives) out[up] = feature.name
  }
  return out
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v)
    Object.freeze(value)
  }
  return value
}
