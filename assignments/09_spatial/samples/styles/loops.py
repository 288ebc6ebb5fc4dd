# A correct solution written the way the course text shows it: explicit loops over batch,
# output channel and output position, one small numpy dot product per output value.

# %% conv_output_size
def conv_output_size(size, kernel, stride=1, padding=0):
    return (size - kernel + 2 * padding) // stride + 1

# %% receptive_field
def receptive_field(num_layers, kernel=3):
    rf = 1
    for _ in range(num_layers):
        rf += kernel - 1
    return rf

# %% conv2d_op
class Conv2dOp(Function):
    def __init__(self, stride=1, padding=0):
        self.stride = _pair(stride)
        self.padding = _pair(padding)

    def forward(self, x, w, b=None):
        sh, sw = self.stride
        ph, pw = self.padding
        batch, channels, height, width = x.shape
        filters, _, kh, kw = w.shape
        out_h = (height + 2 * ph - kh) // sh + 1
        out_w = (width + 2 * pw - kw) // sw + 1
        padded = np.zeros((batch, channels, height + 2 * ph, width + 2 * pw))
        padded[:, :, ph:ph + height, pw:pw + width] = x
        out = np.zeros((batch, filters, out_h, out_w))
        for n in range(batch):
            for f in range(filters):
                for i in range(out_h):
                    for j in range(out_w):
                        patch = padded[n, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
                        out[n, f, i, j] = (patch * w[f]).sum() + (b[f] if b is not None else 0.0)
        self.saved = (padded, w, x.shape, b is not None)
        return out

    def backward(self, grad_out):
        padded, w, x_shape, has_bias = self.saved
        sh, sw = self.stride
        ph, pw = self.padding
        batch, channels, height, width = x_shape
        filters, _, kh, kw = w.shape
        d_padded = np.zeros_like(padded)
        dw = np.zeros_like(w)
        for n in range(batch):
            for f in range(filters):
                for i in range(grad_out.shape[2]):
                    for j in range(grad_out.shape[3]):
                        g = grad_out[n, f, i, j]
                        d_padded[n, :, i * sh:i * sh + kh, j * sw:j * sw + kw] += g * w[f]
                        dw[f] += g * padded[n, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
        dx = d_padded[:, :, ph:ph + height, pw:pw + width]
        db = grad_out.sum(axis=(0, 2, 3)) if has_bias else None
        return dx, dw, db

# %% conv2d_layer
class Conv2d(Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = _pair(kernel_size), _pair(stride), _pair(padding)
        kh, kw = self.kernel_size
        fan_in = in_channels * kh * kw
        self.weight = Tensor(np.random.randn(out_channels, in_channels, kh, kw) * np.sqrt(2.0 / fan_in),
                             requires_grad=True)
        if bias:
            self.bias = Tensor(np.zeros(out_channels), requires_grad=True)
        else:
            self.bias = None

    def forward(self, x):
        op = Conv2dOp(self.stride, self.padding)
        if self.bias is None:
            return op(x, self.weight)
        return op(x, self.weight, self.bias)

# %% maxpool2d
class MaxPool2dOp(Function):
    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel = _pair(kernel_size)
        self.stride = _pair(stride) if stride is not None else self.kernel
        self.padding = _pair(padding)

    def forward(self, x):
        kh, kw = self.kernel
        sh, sw = self.stride
        ph, pw = self.padding
        batch, channels, height, width = x.shape
        out_h = (height + 2 * ph - kh) // sh + 1
        out_w = (width + 2 * pw - kw) // sw + 1
        padded = np.full((batch, channels, height + 2 * ph, width + 2 * pw), -np.inf)
        padded[:, :, ph:ph + height, pw:pw + width] = x
        out = np.zeros((batch, channels, out_h, out_w))
        self.where = {}
        for n in range(batch):
            for c in range(channels):
                for i in range(out_h):
                    for j in range(out_w):
                        patch = padded[n, c, i * sh:i * sh + kh, j * sw:j * sw + kw]
                        u, v = np.unravel_index(np.argmax(patch), patch.shape)
                        out[n, c, i, j] = patch[u, v]
                        self.where[n, c, i, j] = (i * sh + u, j * sw + v)
        self.padded_shape, self.x_shape = padded.shape, x.shape
        return out

    def backward(self, grad_out):
        ph, pw = self.padding
        _, _, height, width = self.x_shape
        d_padded = np.zeros(self.padded_shape)
        for (n, c, i, j), (r, s) in self.where.items():
            d_padded[n, c, r, s] += grad_out[n, c, i, j]
        return (d_padded[:, :, ph:ph + height, pw:pw + width],)


class MaxPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        return MaxPool2dOp(self.kernel_size, self.stride, self.padding)(x)

# %% avgpool2d
class AvgPool2dOp(Function):
    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel = _pair(kernel_size)
        self.stride = _pair(stride) if stride is not None else self.kernel
        self.padding = _pair(padding)

    def forward(self, x):
        kh, kw = self.kernel
        sh, sw = self.stride
        ph, pw = self.padding
        batch, channels, height, width = x.shape
        out_h = (height + 2 * ph - kh) // sh + 1
        out_w = (width + 2 * pw - kw) // sw + 1
        padded = np.zeros((batch, channels, height + 2 * ph, width + 2 * pw))
        padded[:, :, ph:ph + height, pw:pw + width] = x
        out = np.zeros((batch, channels, out_h, out_w))
        for n in range(batch):
            for c in range(channels):
                for i in range(out_h):
                    for j in range(out_w):
                        out[n, c, i, j] = padded[n, c, i * sh:i * sh + kh, j * sw:j * sw + kw].mean()
        self.padded_shape, self.x_shape = padded.shape, x.shape
        return out

    def backward(self, grad_out):
        kh, kw = self.kernel
        sh, sw = self.stride
        ph, pw = self.padding
        _, _, height, width = self.x_shape
        d_padded = np.zeros(self.padded_shape)
        batch, channels, out_h, out_w = grad_out.shape
        for n in range(batch):
            for c in range(channels):
                for i in range(out_h):
                    for j in range(out_w):
                        d_padded[n, c, i * sh:i * sh + kh, j * sw:j * sw + kw] += grad_out[n, c, i, j] / (kh * kw)
        return (d_padded[:, :, ph:ph + height, pw:pw + width],)


class AvgPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        return AvgPool2dOp(self.kernel_size, self.stride, self.padding)(x)

# %% flatten
class Flatten(Module):
    def __init__(self, start_dim=1):
        self.start_dim = start_dim

    def forward(self, x):
        kept = [x.shape[axis] for axis in range(self.start_dim)]
        return x.reshape(*kept, -1)

# %% simplecnn
class SimpleCNN(Module):
    def __init__(self, num_classes=10, in_channels=3, image_size=32):
        self.conv1 = Conv2d(in_channels, 32, kernel_size=3, padding=1)
        self.pool1 = MaxPool2d(kernel_size=2)
        self.conv2 = Conv2d(32, 64, kernel_size=3, padding=1)
        self.pool2 = MaxPool2d(kernel_size=2)
        self.flatten = Flatten()
        side = image_size // 4
        self.fc = Linear(64 * side * side, num_classes)
        self.act = ReLU()

    def forward(self, x):
        x = self.conv1(x)
        x = self.act(x)
        x = self.pool1(x)
        x = self.conv2(x)
        x = self.act(x)
        x = self.pool2(x)
        x = self.flatten(x)
        return self.fc(x)


def count_parameters(model):
    total = 0
    for p in model.parameters():
        total += int(np.prod(p.shape))
    return total
