#!/usr/bin/env python3
"""Writes Tests/Fixtures/chat-templates/renderings.json: chat templates in the style of
published models (ChatML/Qwen2.5, Qwen3 with reasoning, Llama 3, Mistral, Zephyr, Gemma)
and one that exercises the rest of the Jinja subset, each rendered over several
conversations by jinja2 in exactly the environment transformers' apply_chat_template
uses (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, its
tojson, raise_exception). zood's template engine must reproduce every rendering
(Tests/Unit/ZooCoreTests/ChatTemplateTests.swift).

    pip install jinja2 && python3 scripts/chat_template_fixtures.py
"""
import json
import os

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def environment():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


TEMPLATES = {
    "chatml": """{%- if messages[0]['role'] == 'system' %}
    {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
{%- else %}
    {{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}
{%- endif %}
{%- for message in messages %}
    {%- if not (message.role == 'system' and loop.first) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
""",
    "qwen3": """{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}
{%- for message in messages[::-1] %}
    {%- set index = (messages|length - 1) - loop.index0 %}
    {%- if ns.multi_step_tool and message.role == "user" and message.content is string and not(message.content.startswith('<tool_response>') and message.content.endswith('</tool_response>')) %}
        {%- set ns.multi_step_tool = false %}
        {%- set ns.last_query_index = index %}
    {%- endif %}
{%- endfor %}
{%- for message in messages %}
    {%- if message.content is string %}
        {%- set content = message.content %}
    {%- else %}
        {%- set content = '' %}
    {%- endif %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) %}
        {{- '<|im_start|>' + message.role + '\\n' + content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "system" %}
        {{- '<|im_start|>system\\n' + content + '<|im_end|>\\n' }}
    {%- elif message.role == "assistant" %}
        {%- set reasoning_content = '' %}
        {%- if message.reasoning_content is string %}
            {%- set reasoning_content = message.reasoning_content %}
        {%- else %}
            {%- if '</think>' in content %}
                {%- set reasoning_content = content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}
                {%- set content = content.split('</think>')[-1].lstrip('\\n') %}
            {%- endif %}
        {%- endif %}
        {%- if loop.index0 > ns.last_query_index %}
            {%- if loop.last or (not loop.last and reasoning_content) %}
                {{- '<|im_start|>' + message.role + '\\n<think>\\n' + reasoning_content.strip('\\n') + '\\n</think>\\n\\n' + content.lstrip('\\n') }}
            {%- else %}
                {{- '<|im_start|>' + message.role + '\\n' + content }}
            {%- endif %}
        {%- else %}
            {{- '<|im_start|>' + message.role + '\\n' + content }}
        {%- endif %}
        {{- '<|im_end|>\\n' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
    {%- if enable_thinking is defined and enable_thinking is false %}
        {{- '<think>\\n\\n</think>\\n\\n' }}
    {%- endif %}
{%- endif %}""",
    "llama3": "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}",
    "mistral": "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}",
    "zephyr": """{% for message in messages %}
{% if message['role'] == 'user' %}
{{ '<|user|>\\n' + message['content'] + eos_token }}
{% elif message['role'] == 'system' %}
{{ '<|system|>\\n' + message['content'] + eos_token }}
{% elif message['role'] == 'assistant' %}
{{ '<|assistant|>\\n'  + message['content'] + eos_token }}
{% endif %}
{% if loop.last and add_generation_prompt %}
{{ '<|assistant|>' }}
{% endif %}
{% endfor %}""",
    "gemma": "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}",
    # Not a published template: the rest of the subset, so each construct is checked.
    "subset": """{# comments vanish #}
{% set greeting %}Hello, {{ messages | length }} messages{% endset %}
{{ greeting | upper }}|{{ (messages | first).role }}|{{ (messages | last)['content'][:5] }}
  {% for m in messages if m.role != 'system' %}
    [{{ loop.index }}/{{ loop.length }}{{ ' first' if loop.first }}{{ ' last' if loop.last else '' }}] {{ m.role ~ ': ' ~ m.content | replace('?', '!') }}
    {% if loop.index > 2 %}{% break %}{% endif %}
  {% else %}
    nothing
  {% endfor %}
{{ {'a': 1, 'b': [1, 2.5, none, true, 'x"y']} | tojson }}
{{ {'k': {'n': 'é'}} | tojson(indent=2) }}
{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | join(' / ') }}
{{ missing | default('fallback') }} {{ missing is defined }} {{ none is none }} {{ 7 // 2 }} {{ 7 % 3 }} {{ 7 / 2 }} {{ 2 ** 3 }} {{ -3 + 1 }}
{{ 'a,b,,c'.split(',') }} {{ '  x  '.strip() }}! {{ 'abc'[::-1] }} {{ [1, 2, 3][1:] }} {{ 'x' in 'xyz' }} {{ 3 not in [1, 2] }}
{%- for k, v in {'one': 1, 'two': 2}.items() %} {{ k }}={{ v }}{% endfor %}
{% for i in range(5) %}{% if i is odd %}{% continue %}{% endif %}{{ i }}{% endfor %}
{{ 'yes' if add_generation_prompt and messages else 'no' }} {{ bos_token ~ eos_token }}
""",
}

CONVERSATIONS = {
    "user": [{"role": "user", "content": "What is 2+2?"}],
    "system-user": [{"role": "system", "content": "You answer briefly."},
                    {"role": "user", "content": "  Name a colour?  "}],
    "multi-turn": [{"role": "user", "content": "Hi there"},
                   {"role": "assistant", "content": "Hello! How can I help?"},
                   {"role": "user", "content": "Tell me a joke?"}],
    "reasoning": [{"role": "user", "content": "Is 7 prime?"},
                  {"role": "assistant", "content": "<think>\nIt has no divisors but 1 and 7.\n</think>\n\nYes."},
                  {"role": "user", "content": "And 9?"},
                  {"role": "assistant", "content": "<think>\n9 = 3 * 3\n</think>\n\nNo."}],
}


def main():
    env = environment()
    out = []
    for name, source in TEMPLATES.items():
        template = env.from_string(source)
        cases = []
        for conversation, messages in CONVERSATIONS.items():
            for add_generation_prompt in (True, False):
                case = {"conversation": conversation, "add_generation_prompt": add_generation_prompt}
                try:
                    case["rendered"] = template.render(messages=messages, add_generation_prompt=add_generation_prompt,
                                                       bos_token="<s>", eos_token="</s>")
                except jinja2.exceptions.TemplateError as e:
                    case["error"] = str(e)
                cases.append(case)
        out.append({"name": name, "template": source, "cases": cases})
    path = os.path.join(ROOT, "Tests", "Fixtures", "chat-templates", "renderings.json")
    with open(path, "w") as f:
        json.dump({"generator": f"jinja2 {jinja2.__version__}, transformers' apply_chat_template environment",
                   "conversations": CONVERSATIONS, "templates": out}, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {path}: {sum(len(t['cases']) for t in out)} renderings")


if __name__ == "__main__":
    main()
