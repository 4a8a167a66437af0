/* lm-transformer.h — a GPT-style decoder-only language model.
 *
 *   x_0  = wte[token] + wpe[position]                       (dropout)
 *   per block l (pre-LayerNorm):
 *     m  = x + proj(attention(qkv(ln1(x))))                 (dropout on the branch)
 *     x' = m + fc2(gelu(fc(ln2(m))))                        (dropout on the branch)
 *   logits = lnf(x_L) head^T           (head = wte when tied=true)
 *
 * The layout and initialisation follow ../shared/peers/torch_lm.py's GPT exactly, so
 * weights map 1:1 (parameter names are its state_dict names): Linear and LayerNorm with
 * biases unless bias=false, untied head unless tied=true, matrices N(0, 0.02^2) except
 * the residual projections proj and fc2 with std 0.02 / sqrt(2 layers), biases zero,
 * LayerNorm gains one, exact erf GELU. All parameters live in one LmParams buffer.
 *
 * Options (besides the trainer's keys; `context` is the window T and the number of
 * learned positions): layers, heads, d, dropout, tied, bias, eval_mode, eval_stride.
 * heads must divide d.
 *
 * Evaluation (score), following the token convention of core/lm-model.h (token i is
 * scored given <s> and tokens 0..i-1):
 *   windows  non-overlapping windows of `context` targets; the first window's input
 *            starts with <s>, every later window's with the token before its first
 *            target. One forward pass per token (the reference's evaluation).
 *   sliding  windows of `context` inputs advancing by eval_stride (0 = context / 4);
 *            every window after the first scores only its last eval_stride targets, so
 *            every token has at least context - eval_stride tokens of history (all of it
 *            near the start). Cost: context / eval_stride times the windows mode;
 *            eval_stride = 1 is exact (every token sees the full context). create()
 *            refuses eval_stride > context in this mode (it would skip tokens).
 *
 * Streaming (the KV cache): the state keeps keys and values of every layer for the
 * tokens of its window. When a token arrives and the window is full (`context`
 * tokens), the oldest token is dropped and the cache of the remaining context - 1 is
 * recomputed at positions 0..context-2 (positions are absolute within the window), so
 * the log-probabilities always equal a full forward over the last `context` tokens of
 * the history. A prompt of any length is therefore fine; beyond the context each step
 * costs a forward over the window instead of one token.
 *
 * Memory: activations for training take about L*B*T*(15 C) + L*B*NH*T^2 + B*T*V floats
 * (the attention probabilities grow with T^2); the KV cache 2*L*context*C floats per
 * state.
 */
#pragma once

#include "core/lm-model.h"

G_BEGIN_DECLS

extern const LmModelClass lm_transformer_class;

/* For tests and tools: a forward pass in evaluation mode (no dropout) over inputs(B,T),
 * returning the logits (B*T,V), owned by the model and valid until its next forward.
 * NULL (with a critical warning) when the batch cannot be prepared. */
const float *lm_transformer_forward_logits (LmModel *model, const gint32 *inputs, int B, int T);

G_END_DECLS
