from potatogpt.backward import product_backward as product_backward, linear_backward as linear_backward
