from exercises.backprop import mha_backward as mha_backward
