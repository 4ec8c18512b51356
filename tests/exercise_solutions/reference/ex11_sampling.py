from potatogpt.sampling import softmax as softmax, top_k_candidates as top_k_candidates, top_p_candidates as top_p_candidates
